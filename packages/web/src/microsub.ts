/**
 * The forms of the settings section "Read in a Microsub reader" (pages/microsub.ts):
 *
 * - `POST settings/microsub/authorize`: discovers the channel's endpoints from its address
 *   (indieauth-token.ts), keeps the state and PKCE verifier server-side (`PmServer.sessions`,
 *   hashed, 10 minutes, single use, bound to the signed-in session) and sends the browser
 *   to the channel's authorization endpoint asking for scope `create`;
 * - `GET settings/microsub/callback`: checks the state (and `iss`), redeems the code at
 *   the token endpoint (`redeemForToken`) and saves the target (`PmServer.setMicrosub`);
 * - `POST settings/microsub/key`: saves the address as the channel's Micropub endpoint with
 *   the pasted API key;
 * - `POST settings/microsub/remove`.
 *
 * Each ends in a redirect to Settings (Post/Redirect/Get); a refusal comes back beside its
 * field with the address kept (flash.ts) — never the key.
 */
import { createHash } from "node:crypto";
import { PmError } from "@indiepm/core";
import { WebInboxError } from "./errors.js";
import { createFlash } from "./flash.js";
import type { Forms } from "./forms.js";
import { channelAddress, channelAuthorizationUrl, discoverChannel, redeemForToken } from "./indieauth-token.js";
import { pkcePair } from "./indieauth.js";
import type { ResolvedInboxOptions } from "./options.js";
import type { OwnerRequest } from "./owner-pages.js";
import { authorizeRedirectPage } from "./pages/microsub.js";
import { page, redirect } from "./responses.js";
import { route, type Route } from "./router.js";
import type { Session } from "./sign-in.js";

const KIND = "web-microsub-authorization";
const LIFETIME_MS = 10 * 60_000;

type Handler = (request: Request, params: Record<string, string>, owner: OwnerRequest) => Promise<Response>;

/** What an authorization under way keeps of the session that started it: a hash, never the secret. */
const sessionHash = (session: Session) => createHash("sha256").update(`indiepm-microsub:${session.secret}`).digest("base64url");

interface Pending {
  site: string;
  session: string;
  address: string;
  micropub: string;
  tokenEndpoint: string;
  issuer: string | null;
  verifier: string;
}

export function createMicrosubPages(inbox: ResolvedInboxOptions, forms: Forms) {
  const { pm, base, http, policy, clientId } = inbox;
  const flash = createFlash(pm);
  const redirectUri = new URL("settings/microsub/callback", inbox.url).href;
  const settings = (notice?: string) => `${base}settings${notice ? `?notice=${notice}` : ""}`;

  /** A refusal, back on Settings beside `field`, the address kept. */
  async function refused(session: Session, field: "channel" | "key", error: WebInboxError | PmError, channel: string): Promise<Response> {
    const engine = error instanceof PmError;
    const message = engine ? plain(error.message) : error.message;
    return redirect(
      await flash.location(session, settings(), {
        form: "microsub",
        error: { field, message, ...(engine ? { detail: error.message } : {}) },
        values: { channel },
      }),
    );
  }

  /** The engine's refusal of a target ("micropub is refused: …", "token is …"), for people. */
  function plain(engine: string): string {
    if (/^token is empty/.test(engine)) return "Paste the channel's API key.";
    if (/^token /.test(engine)) return "That is not an API key: paste it as your Microsub server shows it, one word without spaces.";
    if (/not an absolute URL/.test(engine)) return "Enter the whole address of the channel's Micropub endpoint, starting with https://.";
    const why = /refused: (.*?)\.?$/.exec(engine)?.[1];
    return why ? `This address cannot be used: ${why}.` : "This channel cannot be used.";
  }

  const guarded =
    (run: (form: URLSearchParams, session: Session) => Promise<Response>, field: "channel" | "key"): Handler =>
    async (request, _params, { session }) => {
      const form = await forms.readChecked(request, session.csrf);
      try {
        return await run(form, session);
      } catch (error) {
        if (error instanceof WebInboxError || (error instanceof PmError && error.code === "invalid_request"))
          return refused(session, field, error, (form.get("channel") ?? "").slice(0, 2000));
        throw error;
      }
    };

  return {
    authorize: guarded(async (form, session) => {
      const address = channelAddress(form.get("channel") ?? "", policy);
      const channel = await discoverChannel(http, address, policy);
      const { verifier, challenge } = pkcePair();
      const pending: Pending = {
        site: session.site,
        session: sessionHash(session),
        address,
        micropub: channel.micropub,
        tokenEndpoint: channel.tokenEndpoint,
        issuer: channel.issuer ?? null,
        verifier,
      };
      const state = await pm.sessions.create(KIND, { ...pending }, LIFETIME_MS);
      const target = channelAuthorizationUrl({ authorizationEndpoint: channel.authorizationEndpoint, clientId, redirectUri, state, challenge, me: address });
      return page(authorizeRedirectPage({ base }, target));
    }, "channel"),

    callback: (async (_request, _params, { session, query }) => {
      const state = query.get("state") ?? "";
      // Single use: taken whatever follows. Another session's (or site's) state is no state.
      const record = state ? await pm.sessions.take(KIND, state) : null;
      const data = record?.data as Pending | undefined;
      const address = data?.address ?? "";
      try {
        if (!data || data.site !== session.site || data.session !== sessionHash(session))
          throw new WebInboxError("invalid_state", "This authorization was not started here, or it has expired. Authorize again.");
        if (query.get("error"))
          throw new WebInboxError("access_denied", `Your Microsub server did not authorize indiepm (${query.get("error")!.slice(0, 60)}).`);
        if (data.issuer !== null && query.get("iss") !== data.issuer)
          throw new WebInboxError("invalid_issuer", "The authorization came back from another server than the channel names.");
        const code = query.get("code");
        if (!code) throw new WebInboxError("redeem_failed", "The authorization came back without a code.");
        const token = await redeemForToken(http, { tokenEndpoint: data.tokenEndpoint, code, clientId, redirectUri, verifier: data.verifier });
        await pm.setMicrosub(session.site, {
          micropub: data.micropub,
          token: token.accessToken,
          via: "indieauth",
          me: token.me ?? data.address,
          inboxUrl: inbox.url.href,
        });
        return redirect(settings("microsub-saved"));
      } catch (error) {
        if (error instanceof WebInboxError || (error instanceof PmError && error.code === "invalid_request"))
          return refused(session, "channel", error, address);
        throw error;
      }
    }) satisfies Handler,

    useKey: guarded(async (form, session) => {
      const micropub = channelAddress(form.get("channel") ?? "", policy);
      const key = (form.get("key") ?? "").trim();
      if (key === "") return refused(session, "key", new WebInboxError("redeem_failed", "Paste the channel's API key, or choose Authorize."), micropub);
      try {
        await pm.setMicrosub(session.site, { micropub, token: key, via: "api-key", inboxUrl: inbox.url.href });
      } catch (error) {
        if (error instanceof PmError && /^token/.test(error.message)) return refused(session, "key", error, micropub);
        throw error;
      }
      return redirect(settings("microsub-saved"));
    }, "channel"),

    remove: guarded(async (_form, session) => {
      await pm.clearMicrosub(session.site);
      return redirect(settings("microsub-removed"));
    }, "channel"),
  };
}

/** The section's rows of the owner's route table (inbox.ts), before its `settings/*` catch-all. */
export function microsubRoutes(inbox: ResolvedInboxOptions, forms: Forms): Route<OwnerRequest>[] {
  const pages = createMicrosubPages(inbox, forms);
  return [
    route("POST", "/settings/microsub/authorize", pages.authorize),
    route("GET", "/settings/microsub/callback", pages.callback),
    route("POST", "/settings/microsub/key", pages.useKey),
    route("POST", "/settings/microsub/remove", pages.remove),
  ];
}
