/** The inbox's answers: every one carries the security headers (security.ts). */
import { WholeResponse } from "@indiepm/protocol";
import type { Html } from "./html.js";
import { securityHeaders } from "./security.js";

/** A page with the inbox's security headers; `headers` are appended (several `set-cookie`s). */
export function page(body: Html, status = 200, headers: Record<string, string> = {}): Response {
  const h = securityHeaders("text/html; charset=utf-8");
  for (const [k, v] of Object.entries(headers)) h.append(k, v);
  return new WholeResponse(body.value, { status, headers: h });
}

export function json(body: unknown, status = 200): Response {
  return new WholeResponse(JSON.stringify(body), { status, headers: securityHeaders("application/json; charset=utf-8") });
}

/** 303 See Other: after a form, the browser GETs the next page. */
export function redirect(to: string, cookies: string[] = []): Response {
  const h = securityHeaders("text/plain; charset=utf-8");
  h.set("location", to);
  for (const c of cookies) h.append("set-cookie", c);
  return new Response(null, { status: 303, headers: h });
}

export function methodNotAllowed(): Response {
  const h = securityHeaders("text/plain; charset=utf-8");
  h.set("allow", "GET, HEAD, POST");
  return new WholeResponse("Method not allowed\n", { status: 405, headers: h });
}

/** Thrown by a check deep in a handler to answer at once (a refused form, an unknown conversation). */
export class HttpAnswer extends Error {
  constructor(readonly response: Response) {
    super("answer");
  }
}
