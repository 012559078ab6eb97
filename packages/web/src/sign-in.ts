/**
 * Signing in with IndieAuth (indieauth.ts does the protocol) and the sessions it opens:
 * the sign-in form and its single-use token, `POST /signin` (limited per client address,
 * then discovery and the redirect to the authorization endpoint), `GET /auth/callback`
 * (state, `iss`, code redemption, `me` confirmation, then a session), `POST /signout`.
 * Sessions are random secrets kept hashed by the engine (`PmServer.sessions`) in
 * HttpOnly, SameSite=Lax cookies.
 */
import { clientKeyOf, newSecret } from "@indiepm/core";
import { WebInboxError } from "./errors.js";
import type { Forms } from "./forms.js";
import { authorizationUrl, discoverAuthorizationServer, normalizeProfileUrl, pkcePair, redeemCode, verifyMe } from "./indieauth.js";
import type { ResolvedInboxOptions } from "./options.js";
import { messagePage, redirectPage, signInPage, siteLabel } from "./pages.js";
import { page, redirect } from "./responses.js";
import { safeReturn } from "./return-to.js";
import { parseCookies, sameSecret, serializeCookie } from "./security.js";
import { PreSignInTokens, SharedPreSignInTokens, SharedSignInLimiter, SignInLimiter, type FormTokens, type SignInLimit } from "./sign-in-guard.js";

const SESSION = "web-session";
const SIGNIN = "web-signin";
const SIGNIN_LIFETIME_MS = 10 * 60_000;
/** How long a sign-in form's token lasts (it is good for one post). */
const PRE_SIGNIN_LIFETIME_MS = 60 * 60_000;

export interface Session {
  secret: string;
  site: string;
  csrf: string;
}

export interface SignIn {
  /** The session the request's cookie names, if it is live and its site still held here. */
  currentSession(request: Request): Promise<Session | undefined>;
  /** The sign-in page, with a fresh single-use form token; `returnTo` (return-to.ts) is where the sign-in comes back to. */
  form(me: string, error?: string, status?: number, notice?: string | null, returnTo?: string): Promise<Response>;
  /** `POST /signin`. */
  start(request: Request, clientAddress: string | undefined): Promise<Response>;
  /** `GET /auth/callback`. */
  finish(request: Request): Promise<Response>;
  /** `POST /signout`. */
  signOut(request: Request, session: Session): Promise<Response>;
}

export function createSignIn(inbox: ResolvedInboxOptions, forms: Forms): SignIn {
  const { pm, base, http, policy, clientId, redirectUri, cookieNames, sessionLifetimeSeconds: lifetime } = inbox;
  // Several instances on one store: counted and checked in the store, so any instance may answer the next post.
  const shared = pm.shared;
  const limiter: SignInLimit = shared ? new SharedSignInLimiter(inbox.signInsPerMinute, shared) : new SignInLimiter(inbox.signInsPerMinute);
  const preTokens: FormTokens = shared ? new SharedPreSignInTokens(PRE_SIGNIN_LIFETIME_MS, shared) : new PreSignInTokens(PRE_SIGNIN_LIFETIME_MS);
  const cookie = (name: string, value: string, maxAge: number) => serializeCookie(name, value, { path: base, secure: inbox.secure, maxAge });
  const cookieOf = (request: Request, name: string) => parseCookies(request.headers.get("cookie")).get(name);

  const siteOf = (value: unknown): string | undefined => {
    if (typeof value !== "string" || !URL.canParse(value)) return undefined;
    const canonical = new URL(value).href;
    return pm.sites.includes(canonical) ? canonical : undefined;
  };

  async function form(me: string, error?: string, status = 200, notice?: string | null, returnTo?: string): Promise<Response> {
    const pre = await preTokens.issue(Date.now());
    return page(
      signInPage(
        { base, ...(error ? { error } : {}), ...(notice ? { notice } : {}) },
        { preCsrf: pre, me: me || (pm.sites.length === 1 ? pm.sites[0]! : ""), sites: pm.sites, ...(returnTo ? { returnTo } : {}) },
      ),
      status,
      { "set-cookie": cookie(cookieNames.pre, pre, PRE_SIGNIN_LIFETIME_MS / 1000) },
    );
  }

  return {
    form,

    async currentSession(request) {
      const secret = cookieOf(request, cookieNames.session);
      if (!secret) return undefined;
      const found = await pm.sessions.get(SESSION, secret);
      const site = siteOf(found?.data.site);
      const csrf = found?.data.csrf;
      if (!found || !site || typeof csrf !== "string") return undefined;
      return { secret, site, csrf };
    },

    async start(request, clientAddress) {
      const fields = await forms.read(request);
      // A double-submit cookie whose value the inbox issued.
      const pre = cookieOf(request, cookieNames.pre);
      if (!forms.fromOwnPage(request, fields.get("csrf") ?? "", pre)) forms.refuseCrossSite();
      const entered = fields.get("me") ?? "";
      const returnTo = safeReturn(fields.get("return"));
      // Counted once the form is the inbox's own (a page elsewhere cannot spend the owner's
      // allowance), before its token is used or anything is fetched.
      // By the engine's rule for a client: an IPv6 address by its /64 (one subscriber).
      const wait = await limiter.hit(clientKeyOf(clientAddress ?? ""), Date.now());
      if (wait !== undefined) {
        return page(
          messagePage({ base }, "Too many sign-ins", `Too many sign-in attempts came from your address. Try again in ${wait} seconds.`, {
            href: base,
            label: "Back to the sign-in page",
          }),
          429,
          {
            "retry-after": String(wait),
          },
        );
      }
      // Single use: a replayed form is refused before anything is fetched.
      if (!(await preTokens.redeem(pre!, Date.now())))
        return form(entered, "This sign-in form was already used or has expired. Sign in again.", 400, null, returnTo);
      try {
        const me = normalizeProfileUrl(entered, policy);
        if (!pm.sites.includes(me)) throw new WebInboxError("unknown_site", `This server holds no inbox for ${siteLabel(me)}.`);
        const server = await discoverAuthorizationServer(http, me, policy);
        const { verifier, challenge } = pkcePair();
        const state = await pm.sessions.create(
          SIGNIN,
          { me, authorizationEndpoint: server.authorizationEndpoint, issuer: server.issuer ?? null, verifier, returnTo: returnTo ?? null },
          SIGNIN_LIFETIME_MS,
        );
        const target = authorizationUrl({ authorizationEndpoint: server.authorizationEndpoint, clientId, redirectUri, state, challenge, me });
        return page(redirectPage({ base }, target), 200, { "set-cookie": cookie(cookieNames.signin, state, SIGNIN_LIFETIME_MS / 1000) });
      } catch (error) {
        if (error instanceof WebInboxError) return form(entered, error.message, 400, null, returnTo);
        throw error;
      }
    },

    async finish(request) {
      const query = new URL(request.url).searchParams;
      const state = query.get("state") ?? "";
      const bound = cookieOf(request, cookieNames.signin) ?? "";
      const clear = cookie(cookieNames.signin, "", 0);
      try {
        // The state must be the one this browser was given (its cookie), and live: single use.
        if (!state || !bound || !sameSecret(state, bound))
          throw new WebInboxError("invalid_state", "This sign-in was not started in this browser, or it has expired. Sign in again.");
        const record = await pm.sessions.take(SIGNIN, state);
        if (!record) throw new WebInboxError("invalid_state", "This sign-in has expired or was already used. Sign in again.");
        const data = record.data as { me: string; authorizationEndpoint: string; issuer: string | null; verifier: string; returnTo?: string | null };
        if (query.get("error")) throw new WebInboxError("access_denied", `Your site's sign-in page said no (${query.get("error")!.slice(0, 60)}).`);
        // IndieAuth §5.2.1: where the metadata named an issuer, `iss` must be exactly it.
        if (data.issuer !== null && query.get("iss") !== data.issuer)
          throw new WebInboxError("invalid_issuer", "The sign-in came back from another authorization server than your site names.");
        const code = query.get("code");
        if (!code) throw new WebInboxError("redeem_failed", "The sign-in came back without a code.");
        const me = await redeemCode(http, { authorizationEndpoint: data.authorizationEndpoint, code, clientId, redirectUri, verifier: data.verifier });
        await verifyMe(http, me, data.me, { authorizationEndpoint: data.authorizationEndpoint, ...(data.issuer ? { issuer: data.issuer } : {}) }, policy);
        const site = siteOf(me);
        if (!site) throw new WebInboxError("unknown_site", `You are ${siteLabel(me)}, but this server holds no inbox for that site.`);
        const secret = await pm.sessions.create(SESSION, { site, csrf: newSecret() }, lifetime * 1000);
        // Back to the page the sign-in interrupted: a path under this inbox only (return-to.ts).
        return redirect(`${base}${safeReturn(data.returnTo) ?? ""}`, [cookie(cookieNames.session, secret, lifetime), clear]);
      } catch (error) {
        if (!(error instanceof WebInboxError)) throw error;
        const response = await form("", error.message, 400);
        response.headers.append("set-cookie", clear);
        return response;
      }
    },

    async signOut(request, session) {
      await forms.readChecked(request, session.csrf);
      await pm.sessions.remove(SESSION, session.secret);
      return redirect(`${base}?notice=signed-out`, [cookie(cookieNames.session, "", 0)]);
    },
  };
}
