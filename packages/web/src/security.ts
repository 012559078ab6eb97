/**
 * What every page of the inbox carries and checks: a strict Content-Security-Policy and
 * its companions, cookies (HttpOnly, SameSite=Lax, Secure on https), and the CSRF
 * checks of every form: a synchronizer token tied to the session, and the request's
 * `Origin` and `Sec-Fetch-Site`.
 */
import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Nothing inline, nothing from elsewhere: the inbox's own stylesheet, script and icon,
 * its own JSON for live status, forms only to itself, never in a frame. Remote images
 * in received HTML are removed by the engine's sanitizer; `img-src 'self'` would stop
 * them anyway.
 */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export function securityHeaders(contentType: string, cache = "no-store"): Headers {
  return new Headers({
    "content-type": contentType,
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    // Links in messages lead to other people's sites: they learn nothing of the inbox.
    // (`same-origin`, not `no-referrer`: with `no-referrer` a browser sends `Origin: null`
    // on the inbox's own forms, and the CSRF check needs the real origin.)
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "cache-control": cache,
  });
}

export function parseCookies(header: string | null): Map<string, string> {
  const cookies = new Map<string, string>();
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!cookies.has(name)) cookies.set(name, part.slice(eq + 1).trim());
  }
  return cookies;
}

export interface CookieOptions {
  path: string;
  secure: boolean;
  /** Seconds; 0 deletes the cookie. */
  maxAge: number;
}

/** `Set-Cookie` value: always HttpOnly and SameSite=Lax (Lax, not Strict: the sign-in returns from another site). */
export function serializeCookie(name: string, value: string, options: CookieOptions): string {
  return `${name}=${value}; Path=${options.path}; Max-Age=${options.maxAge}; HttpOnly; SameSite=Lax${options.secure ? "; Secure" : ""}`;
}

/** Constant-time comparison of two strings (by their SHA-256, so lengths leak nothing). */
export function sameSecret(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}

/**
 * Whether a state-changing request comes from the inbox's own pages: a browser says
 * where a request comes from in `Sec-Fetch-Site` and `Origin`; a form posted from
 * another origin fails here even before its token is looked at.
 */
export function sameOriginRequest(request: Request, origin: string): boolean {
  const site = request.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin" && site !== "none") return false;
  const from = request.headers.get("origin");
  if (from !== null && from !== origin) return false;
  return true;
}
