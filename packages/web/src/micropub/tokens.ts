/**
 * Checking a Micropub app's access token, as IndieAuth says (§6, and the deployed
 * convention before it): the token was issued by the site's own IndieAuth, so it is
 * checked at the token endpoint the site names (discovery.ts), with a GET carrying
 * `Authorization: Bearer` that answers `{ me, client_id, scope }` — what
 * tokens.indieauth.com, Indiekit and Aperture's token endpoints answer. The 2022
 * introspection endpoint is not used: it "MUST require some form of authorization"
 * that this server does not hold at someone else's authorization server.
 *
 * The token counts only when the `me` it names is the site whose DM profile the app
 * signed in with, and when its scope includes the one asked (`create`; the legacy
 * `post` scope counts as `create`, as Indiekit takes it). Answers are kept by the
 * SHA-256 of the site and token, bounded in entries and time, refusals more briefly;
 * a token endpoint that cannot be reached is never taken as a yes. Tokens nobody has seen
 * are asked about at most `maxInFlight` at a time per site: a crowd of strangers sending
 * made-up tokens cannot make this server flood the owner's own IndieAuth server (the rest
 * are answered 503, without asking).
 */
import { createHash } from "node:crypto";
import type { HttpClient, UrlPolicy } from "@indiepm/core";
import { siteLabel } from "../pages.js";
import { createSiteDiscovery, type SiteDiscovery } from "./discovery.js";

export interface VerifiedToken {
  me: string;
  scope: string[];
  clientId?: string;
}

export type TokenCheck =
  | { ok: true; token: VerifiedToken }
  | {
      ok: false;
      status: 401 | 403 | 503;
      error: "unauthorized" | "forbidden" | "insufficient_scope" | "temporarily_unavailable";
      description: string;
    };

export interface TokenVerifier {
  /** Whether `bearer` lets its holder act for `site` (one of the server's sites) with `scope`. Never throws. */
  verify(site: string, bearer: string | undefined, scope: string): Promise<TokenCheck>;
}

export interface TokenVerifierOptions {
  http: HttpClient;
  policy: UrlPolicy;
  now?: () => number;
  /** The sites' IndieAuth endpoints; shared with the DM profile pages (default: a discovery of its own). */
  discovery?: SiteDiscovery;
  /** How long an accepted token is kept (default 2 minutes). */
  ttlMs?: number;
  /** How long a refused token is kept (default 30 seconds). */
  refusalTtlMs?: number;
  /** Most tokens kept (default 1,000). */
  maxEntries?: number;
  /** Most token checks under way at once for one site (default 8). */
  maxInFlight?: number;
}

export const TOKEN_CACHE_DEFAULTS = { ttlMs: 2 * 60_000, refusalTtlMs: 30_000, maxEntries: 1_000, maxInFlight: 8 } as const;

/** The longest token looked at; longer ones are refused without asking anyone. */
const MAX_TOKEN_LENGTH = 4096;
const LIMITS = { maxRedirects: 0, timeoutMs: 5_000, maxBytes: 64 * 1024 } as const;

/** What the token endpoint said about a token, before it is compared with the site and scope. */
type Refusal = Extract<TokenCheck, { ok: false }>;
type Answer = { ok: true; me: string; scope: string[]; clientId?: string } | Refusal;

const unavailable = (description: string): Refusal => ({ ok: false, status: 503, error: "temporarily_unavailable", description });
const unauthorized = (description: string): Refusal => ({ ok: false, status: 401, error: "unauthorized", description });

/** Pure: the token endpoint's answer to a GET with the token (status and body). */
export function processTokenAnswer(status: number, body: string, endpoint: string): Answer {
  const host = siteLabel(endpoint);
  if (status === 400 || status === 401 || status === 403 || status === 404)
    return unauthorized(`The token endpoint ${host} does not accept this access token (it may be revoked or expired): sign in to the app again.`);
  if (status < 200 || status > 299) return unavailable(`The token endpoint ${host} answered ${status}; try again in a moment.`);
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    // Older token endpoints answer form-encoded unless asked for JSON.
    json = Object.fromEntries(new URLSearchParams(body));
  }
  const doc = (json && typeof json === "object" ? json : {}) as Record<string, unknown>;
  if (doc.active === false) return unauthorized(`The token endpoint ${host} says this access token is no longer active: sign in to the app again.`);
  if (typeof doc.me !== "string" || !URL.canParse(doc.me))
    return unauthorized(`The token endpoint ${host} did not say whose this access token is: sign in to the app again.`);
  const scope = typeof doc.scope === "string" ? doc.scope.split(/\s+/).filter(Boolean) : [];
  const clientId = typeof doc.client_id === "string" ? doc.client_id : undefined;
  return { ok: true, me: new URL(doc.me).href, scope, ...(clientId ? { clientId } : {}) };
}

/** Whether granted scopes include the one asked; `post` (Micropub before scopes were split) counts as `create`. */
export function scopeIncludes(granted: readonly string[], asked: string): boolean {
  return granted.includes(asked) || (asked === "create" && granted.includes("post"));
}

export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const now = options.now ?? Date.now;
  const ttlMs = options.ttlMs ?? TOKEN_CACHE_DEFAULTS.ttlMs;
  const refusalTtlMs = options.refusalTtlMs ?? TOKEN_CACHE_DEFAULTS.refusalTtlMs;
  const maxEntries = options.maxEntries ?? TOKEN_CACHE_DEFAULTS.maxEntries;
  const discovery = options.discovery ?? createSiteDiscovery({ http: options.http, policy: options.policy, now });
  const kept = new Map<string, { answer: Answer; expiresAt: number }>();
  const pending = new Map<string, Promise<Answer>>();
  const maxInFlight = options.maxInFlight ?? TOKEN_CACHE_DEFAULTS.maxInFlight;
  /** Checks under way per site (only the server's own sites are asked about, so this map is as small as they are). */
  const inFlight = new Map<string, number>();

  const keep = (key: string, answer: Answer, lifetime: number) => {
    kept.delete(key);
    if (kept.size >= maxEntries) {
      const at = now();
      for (const [k, e] of kept) if (e.expiresAt <= at) kept.delete(k);
      while (kept.size >= maxEntries) kept.delete(kept.keys().next().value!);
    }
    kept.set(key, { answer, expiresAt: now() + lifetime });
  };

  async function ask(site: string, token: string): Promise<Answer> {
    let endpoint: string | undefined;
    try {
      endpoint = (await discovery.get(site)).tokenEndpoint;
    } catch (error) {
      return unavailable(
        `The IndieAuth endpoints of ${siteLabel(site)} could not be read, so the access token cannot be checked: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (!endpoint) return unauthorized(`${siteLabel(site)} names no token endpoint, so no access token can be checked for it.`);
    try {
      const page = await options.http.get(endpoint, { ...LIMITS, headers: { authorization: `Bearer ${token}`, accept: "application/json" } });
      return processTokenAnswer(page.status, new TextDecoder().decode(page.body), endpoint);
    } catch (error) {
      return unavailable(
        `The token endpoint ${siteLabel(endpoint)} could not be reached, so the access token cannot be checked: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  async function answerFor(site: string, token: string): Promise<Answer> {
    const key = createHash("sha256").update(site).update("\n").update(token).digest("base64url");
    const entry = kept.get(key);
    if (entry && entry.expiresAt > now()) return entry.answer;
    const running = pending.get(key);
    if (running) return running;
    const busy = inFlight.get(site) ?? 0;
    if (busy >= maxInFlight) return unavailable(`Too many access tokens of ${siteLabel(site)} are being checked at once; try again in a moment.`);
    inFlight.set(site, busy + 1);
    const started = ask(site, token)
      .then((answer) => {
        // An endpoint that could not be reached is asked again next time.
        if (answer.ok) keep(key, answer, ttlMs);
        else if (answer.status !== 503) keep(key, answer, refusalTtlMs);
        else kept.delete(key);
        return answer;
      })
      .finally(() => {
        pending.delete(key);
        const left = (inFlight.get(site) ?? 1) - 1;
        if (left > 0) inFlight.set(site, left);
        else inFlight.delete(site);
      });
    pending.set(key, started);
    return started;
  }

  return {
    async verify(site, bearer, scope) {
      const token = bearer?.trim() ?? "";
      if (token === "") return unauthorized("No access token was sent: sign in to the app with this address first.");
      if (token.length > MAX_TOKEN_LENGTH || /[\s\0-\x1f\x7f]/.test(token)) return unauthorized("This access token is malformed.");
      const canonical = URL.canParse(site) ? new URL(site).href : site;
      const answer = await answerFor(canonical, token);
      if (!answer.ok) return answer;
      if (answer.me !== canonical) {
        return {
          ok: false,
          status: 403,
          error: "forbidden",
          description: `This access token is for ${siteLabel(answer.me)}, not for ${siteLabel(canonical)}: sign in to the app with this address.`,
        };
      }
      if (!scopeIncludes(answer.scope, scope)) {
        return {
          ok: false,
          status: 403,
          error: "insufficient_scope",
          description: `This access token does not allow “${scope}” (it allows ${answer.scope.length > 0 ? answer.scope.join(" ") : "nothing"}): sign in to the app again and allow it.`,
        };
      }
      return { ok: true, token: { me: answer.me, scope: answer.scope, ...(answer.clientId ? { clientId: answer.clientId } : {}) } };
    },
  };
}
