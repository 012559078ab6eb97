/**
 * `createWebInbox`: the owner's web inbox for a `PmServer`, as a web-standard
 * `Request → Response` handler mounted at a URL of the owner's choice (the standalone
 * server: its root; Express: any path). Its options are checked once (options.ts); its
 * pages are the route table below. Sign-in is IndieAuth with the owner's own site
 * (sign-in.ts, indieauth.ts); every form is checked against cross-site requests
 * (forms.ts); every answer carries a strict Content-Security-Policy (security.ts).
 */
import { createByPersonPages } from "./by-person.js";
import { microsubRoutes } from "./microsub.js";
import { createForms } from "./forms.js";
import { resolveInboxOptions, type WebInboxOptions } from "./options.js";
import { createOwnerPages, type OwnerRequest } from "./owner-pages.js";
import { messagePage } from "./pages.js";
import { HttpAnswer, json, methodNotAllowed, page, redirect } from "./responses.js";
import { createRouter, route, type Route } from "./router.js";
import { createSignIn } from "./sign-in.js";
import { createStaticFiles } from "./static-files.js";
import { createFailurePages } from "./failures.js";
import { avatarResponse } from "./people.js";
import { returnPathOf, safeReturn } from "./return-to.js";
import { createSiteDiscovery } from "./micropub/discovery.js";
import { createProfilePages } from "./micropub/profile.js";
import { createMicropubEndpoint } from "./micropub/endpoint.js";
import { createTokenVerifier } from "./micropub/tokens.js";

export type { WebInboxOptions } from "./options.js";

export interface WebInboxContext {
  /** Path relative to where the inbox is mounted, starting with `/` (default: from the request URL and `url`). */
  path?: string;
  /** The client's IP address (from the `trustProxy` rule, http/trust-proxy.ts), for the sign-in limit. */
  clientAddress?: string;
}

export interface WebInbox {
  /** The inbox's canonical URL. */
  readonly url: string;
  /** Answers any request under the inbox's URL; never throws. */
  handle(request: Request, context?: WebInboxContext): Promise<Response>;
  /** Closes the outbound client the inbox made. */
  close(): Promise<void>;
}

/** Creates the inbox. Options are checked here, once. @throws WebInboxError `invalid_config` */
export function createWebInbox(options: WebInboxOptions): WebInbox {
  const inbox = resolveInboxOptions(options);
  const { base } = inbox;
  const forms = createForms(inbox);
  const signIn = createSignIn(inbox, forms);
  const statics = createStaticFiles();
  const owner = createOwnerPages(inbox, forms);
  const byPerson = createByPersonPages(inbox, forms, owner);
  const failures = createFailurePages(inbox.pm, base, forms, owner.frameFor);
  // The sites' own IndieAuth, kept a few minutes: the DM profile pages and Micropub's token checks share it.
  const siteAuth = createSiteDiscovery({ http: inbox.http, policy: inbox.policy });
  const profiles = createProfilePages(inbox, siteAuth);
  const micropub = createMicropubEndpoint(inbox, createTokenVerifier({ http: inbox.http, policy: inbox.policy, discovery: siteAuth }));

  // Anyone may reach these; every other page needs a session.
  const publicRoutes = createRouter<{ clientAddress: string | undefined }>([
    route(
      "GET",
      "/static/*",
      async (request, { rest }) => (await statics.serve(rest!, request)) ?? page(messagePage({ base }, "Not found", "There is no such page here."), 404),
    ),
    route("GET", "/auth/callback", (request) => signIn.finish(request)),
    route("POST", "/signin", (request, _params, { clientAddress }) => signIn.start(request, clientAddress)),
    // The DM profile URLs (micropub/profile.ts): public, for Micropub apps to sign in with.
    route("GET", "/me", profiles.withSlash),
    route("GET", "/me/", profiles.index),
    route("GET", "/me/:id", profiles.withSlash),
    route("GET", "/me/:id/", profiles.profile),
    // Each profile's Micropub endpoint (micropub/endpoint.ts): bearer tokens of the site's own IndieAuth, no session.
    route("GET", "/me/:id/micropub", micropub.get),
    route("POST", "/me/:id/micropub", micropub.post),
  ]);

  const ownerRoutes = createRouter<OwnerRequest>([
    route("GET", "/", byPerson.home),
    route("GET", "/p/:id", byPerson.person),
    route("GET", "/p/:id/status.json", byPerson.personStatus),
    route("GET", "/p/:id/live", owner.liveChatItems),
    route("POST", "/p/:id/reply", byPerson.reply),
    route("POST", "/p/:id/read", byPerson.markRead),
    route("GET", "/status.json", owner.status),
    route("GET", "/compose", owner.composeForm),
    route("POST", "/compose", owner.compose),
    route("GET", "/c/:id", owner.conversation),
    route("GET", "/c/:id/status.json", owner.conversationStatus),
    route("GET", "/c/:id/live", owner.liveItems),
    route("POST", "/c/:id/reply", owner.reply),
    route("POST", "/c/:id/read", owner.markConversation),
    route("POST", "/c/:id/delete", owner.deleteConversation),
    route("POST", "/m/read", owner.markMessage),
    route("POST", "/m/delete", owner.deleteMessage),
    route("POST", "/people/mute", owner.mutePerson),
    route("POST", "/people/block", owner.blockPerson),
    route("GET", "/settings", owner.settings),
    route("POST", "/settings/policy", owner.setPolicy),
    route("POST", "/settings/contacts/add", owner.addContact),
    route("POST", "/settings/contacts/remove", owner.removeContact),
    route("POST", "/settings/blocked/add", owner.block),
    route("POST", "/settings/blocked/remove", owner.unblock),
    route("POST", "/settings/webhook", owner.setWebhook),
    route("POST", "/settings/webhook/test", owner.testWebhook),
    ...microsubRoutes(inbox, forms),
    route("POST", "/settings/tokens/revoke", owner.revokeToken),
    route("POST", "/settings/delete-all", owner.deleteAll),
    route("POST", "/settings/*", owner.unknownSetting),
    route("GET", "/export.json", owner.exportAll),
    route("GET", "/deliveries", failures.list),
    route("POST", "/deliveries/retry", failures.retry),
    route("POST", "/deliveries/cancel", failures.cancel),
    route("GET", "/avatar/:id", (request, { id }) => avatarResponse(inbox.pm, request, id!)),
    route("POST", "/signout", (request, _params, { session }) => signIn.signOut(request, session)),
  ] satisfies Route<OwnerRequest>[]);

  async function answer(request: Request, path: string, clientAddress: string | undefined): Promise<Response> {
    const method = request.method.toUpperCase();
    const open = publicRoutes(method, path);
    if (open) return open.route.handle(request, open.params, { clientAddress });
    const query = new URL(request.url).searchParams;
    const session = await signIn.currentSession(request);
    if (!session) {
      if (path.endsWith(".json")) return json({ error: "invalid_token", error_description: "Sign in first." }, 401);
      if (path === "/" && (method === "GET" || method === "HEAD")) return signIn.form("", undefined, 200, query.get("notice"), safeReturn(query.get("return")));
      // Sign-in comes back to the page this request was for (return-to.ts); a form posted meanwhile is not sent (app.js keeps its draft).
      const back = returnPathOf(method, path, query);
      const params = new URLSearchParams({ ...(method === "POST" ? { notice: "expired" } : {}), ...(back ? { return: back } : {}) });
      return redirect(params.size > 0 ? `${base}?${params}` : base);
    }
    const found = ownerRoutes(method, path);
    if (found) return found.route.handle(request, found.params, { session, query });
    if (method === "GET" || method === "HEAD") return owner.notFound(session);
    return methodNotAllowed();
  }

  return {
    url: inbox.url.href,
    async handle(request, context = {}) {
      try {
        const pathname = new URL(request.url).pathname;
        const path = context.path ?? (pathname.startsWith(base) ? `/${pathname.slice(base.length)}` : pathname);
        return await answer(request, path === "" ? "/" : path, context.clientAddress);
      } catch (error) {
        if (error instanceof HttpAnswer) return error.response;
        inbox.logger?.error("web inbox request failed", { error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
        return page(
          messagePage({ base }, "Something went wrong", "The server failed to answer this page; the failure was logged. Try again in a moment.", {
            href: base,
            label: "Back to the inbox",
          }),
          500,
        );
      }
    },
    async close() {
      await inbox.ownHttp?.close();
    },
  };
}
