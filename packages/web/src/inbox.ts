/**
 * `createWebInbox`: the owner's web inbox for a `PmServer`, as a web-standard
 * `Request → Response` handler mounted at a URL of the owner's choice (the standalone
 * server: its root; Express: any path). Sign-in is IndieAuth with the owner's own site
 * (indieauth.ts); sessions are random secrets kept hashed by the engine
 * (`PmServer.sessions`) in HttpOnly, SameSite=Lax cookies; every form carries the
 * session's CSRF token and is refused from another origin; every answer carries a strict
 * Content-Security-Policy (security.ts).
 */
import { readFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import {
  conversationId,
  createHttpClient,
  HOST_BLOCK_PREFIX,
  newSecret,
  PmError,
  type ClosableHttpClient,
  type HttpClient,
  type Logger,
  type PmServer,
  type Thread,
} from "@indiepm/core";
import { WebInboxError } from "./errors.js";
import { Html } from "./html.js";
import { authorizationUrl, discoverAuthorizationServer, normalizeProfileUrl, pkcePair, redeemCode, verifyMe } from "./indieauth.js";
import {
  composePage,
  inboxPage,
  messagePage,
  redirectPage,
  replyTargets,
  settingsPage,
  signInPage,
  siteLabel,
  threadPage,
  type ComposeValues,
  type Frame,
} from "./pages.js";
import { parseCookies, sameOriginRequest, sameSecret, securityHeaders, serializeCookie } from "./security.js";
import { DEFAULT_SIGN_INS_PER_MINUTE, PreSignInTokens, SignInLimiter } from "./sign-in-guard.js";

export interface WebInboxOptions {
  /** The engine whose sites sign in here. */
  server: PmServer;
  /**
   * Absolute URL where the inbox is mounted, ending in `/` (`https://pm.example.net/`,
   * `https://example.com/inbox/`): its links, its cookies' path, its IndieAuth
   * `client_id` and `redirect_uri`. Cookies are `Secure` when it is https.
   */
  url: string;
  /** Outbound client for IndieAuth (default: `createHttpClient({ dev: server.dev })`, guarded as §6 says). */
  http?: HttpClient;
  /** How long a sign-in lasts, seconds (default 14 days). */
  sessionLifetimeSeconds?: number;
  /** How often an open page asks whether a message arrived, seconds (default 10). */
  pollSeconds?: number;
  /**
   * Sign-in posts a minute per client address (default 10): each makes this server fetch
   * the site named. The client address is the one `RequestContext.clientAddress` gives
   * (the server's `trustProxy` setting decides it behind a proxy).
   */
  signInsPerMinute?: number;
  logger?: Logger;
}

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

const SESSION = "web-session";
const SIGNIN = "web-signin";
const SIGNIN_LIFETIME_MS = 10 * 60_000;
/** How long a sign-in form's token lasts (it is good for one post). */
const PRE_SIGNIN_LIFETIME_MS = 60 * 60_000;
const DEFAULT_SESSION_SECONDS = 14 * 24 * 60 * 60;
/** Forms: a message's 64 KiB of text, its HTML, and room for the rest. */
const MAX_FORM_BYTES = 240 * 1024;

const STATIC_FILES: Record<string, string> = {
  "app.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
  "icon.svg": "image/svg+xml",
};

interface Session {
  secret: string;
  site: string;
  csrf: string;
}

class HttpAnswer extends Error {
  constructor(readonly response: Response) {
    super("answer");
  }
}

function invalid(text: string): PmError {
  return new PmError("invalid_config", `createWebInbox: ${text}`);
}

/** Creates the inbox. Options are checked here, once. */
export function createWebInbox(options: WebInboxOptions): WebInbox {
  if (!options || typeof options !== "object") throw invalid("needs an options object { server, url }.");
  const pm = options.server;
  if (!pm || typeof pm.handle !== "function" || typeof pm.conversations !== "function") throw invalid("option `server` must be a PmServer made by createPmServer().");
  if (typeof options.url !== "string" || !URL.canParse(options.url)) throw invalid(`option \`url\` must be the absolute URL of the inbox, got ${JSON.stringify(options.url)}.`);
  const url = new URL(options.url);
  if (url.protocol !== "https:" && url.protocol !== "http:") throw invalid("option `url` must be http(s).");
  if (!pm.dev && url.protocol !== "https:") throw invalid("option `url` must be https outside development mode (cookies are Secure).");
  if (url.search || url.hash) throw invalid("option `url` must have no query or fragment.");
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  const lifetime = options.sessionLifetimeSeconds ?? DEFAULT_SESSION_SECONDS;
  if (typeof lifetime !== "number" || !(lifetime >= 60)) throw invalid("option `sessionLifetimeSeconds` must be 60 or more.");
  const pollSeconds = options.pollSeconds ?? 10;
  if (typeof pollSeconds !== "number" || !(pollSeconds >= 1)) throw invalid("option `pollSeconds` must be 1 or more.");
  const signInsPerMinute = options.signInsPerMinute ?? DEFAULT_SIGN_INS_PER_MINUTE;
  if (typeof signInsPerMinute !== "number" || !Number.isInteger(signInsPerMinute) || signInsPerMinute < 1) throw invalid("option `signInsPerMinute` must be a whole number, 1 or more.");
  const signInLimiter = new SignInLimiter(signInsPerMinute);
  const preTokens = new PreSignInTokens(PRE_SIGNIN_LIFETIME_MS);
  const base = url.pathname;
  const origin = url.origin;
  const secure = url.protocol === "https:";
  const clientId = url.href;
  const redirectUri = new URL("auth/callback", url).href;
  const policy = { dev: pm.dev };
  const ownHttp: ClosableHttpClient | undefined = options.http ? undefined : createHttpClient({ dev: pm.dev });
  const http = options.http ?? ownHttp!;
  const log = options.logger;
  // One inbox per origin and path: the same browser may hold sessions of several (the demo's two, on two ports).
  const suffix = createHash("sha256").update(url.href).digest("hex").slice(0, 8);
  const cookieNames = { session: `indiepm_session_${suffix}`, signin: `indiepm_signin_${suffix}`, pre: `indiepm_pre_${suffix}` };
  const cookie = (name: string, value: string, maxAge: number) => serializeCookie(name, value, { path: base, secure, maxAge });
  const staticDir = new URL("../static/", import.meta.url);
  const statics = new Map<string, Promise<{ body: Uint8Array; etag: string }>>();

  const siteOf = (value: unknown): string | undefined => {
    if (typeof value !== "string" || !URL.canParse(value)) return undefined;
    const canonical = new URL(value).href;
    return pm.sites.includes(canonical) ? canonical : undefined;
  };

  function page(body: Html, status = 200, headers: Record<string, string> = {}): Response {
    const h = securityHeaders("text/html; charset=utf-8");
    for (const [k, v] of Object.entries(headers)) h.append(k, v);
    return new Response(body.value, { status, headers: h });
  }
  function json(body: unknown, status = 200): Response {
    return new Response(JSON.stringify(body), { status, headers: securityHeaders("application/json; charset=utf-8") });
  }
  function redirect(to: string, cookies: string[] = []): Response {
    const h = securityHeaders("text/plain; charset=utf-8");
    h.set("location", to);
    for (const c of cookies) h.append("set-cookie", c);
    return new Response(null, { status: 303, headers: h });
  }
  const path = (rest: string, notice?: string) => `${base}${rest}${notice ? `${rest.includes("?") ? "&" : "?"}notice=${notice}` : ""}`;

  async function staticFile(name: string, request: Request): Promise<Response> {
    const type = STATIC_FILES[name];
    if (!type) return page(messagePage({ base }, "Not found", "There is no such page here."), 404);
    let entry = statics.get(name);
    if (!entry) {
      entry = readFile(new URL(name, staticDir)).then((body) => ({ body, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 16)}"` }));
      statics.set(name, entry);
    }
    const { body, etag } = await entry;
    const headers = securityHeaders(type, "no-cache");
    headers.set("etag", etag);
    if (request.headers.get("if-none-match") === etag) return new Response(null, { status: 304, headers });
    return new Response(request.method === "HEAD" ? null : (body as Uint8Array<ArrayBuffer>), { status: 200, headers });
  }

  async function currentSession(request: Request): Promise<Session | undefined> {
    const secret = parseCookies(request.headers.get("cookie")).get(cookieNames.session);
    if (!secret) return undefined;
    const found = await pm.sessions.get(SESSION, secret);
    const site = siteOf(found?.data.site);
    const csrf = found?.data.csrf;
    if (!found || !site || typeof csrf !== "string") return undefined;
    return { secret, site, csrf };
  }

  async function readForm(request: Request): Promise<URLSearchParams> {
    const type = request.headers.get("content-type") ?? "";
    if (!/^application\/x-www-form-urlencoded\b/i.test(type)) {
      throw new HttpAnswer(page(messagePage({ base }, "Not a form", "This address takes a form from the inbox's own pages."), 415));
    }
    const declared = Number(request.headers.get("content-length") ?? NaN);
    if (declared > MAX_FORM_BYTES) throw new HttpAnswer(page(messagePage({ base }, "Too large", "That is more than a message may hold (64 KiB of text)."), 413));
    const body = await request.arrayBuffer();
    if (body.byteLength > MAX_FORM_BYTES) throw new HttpAnswer(page(messagePage({ base }, "Too large", "That is more than a message may hold (64 KiB of text)."), 413));
    return new URLSearchParams(new TextDecoder().decode(body));
  }

  function refuseCrossSite(): never {
    throw new HttpAnswer(
      page(messagePage({ base }, "Refused", "This form did not come from your inbox's own pages (cross-site request refused). Go back, reload the page and try again.", { href: base, label: "Back to the inbox" }), 403),
    );
  }

  /** CSRF: the request's own origin headers, then the session's synchronizer token. */
  function checkForm(request: Request, form: URLSearchParams, expected: string): void {
    if (!sameOriginRequest(request, origin)) refuseCrossSite();
    const token = form.get("csrf") ?? "";
    if (!token || !sameSecret(token, expected)) refuseCrossSite();
  }

  async function frameFor(session: Session, notice?: string | null): Promise<Frame> {
    const status = await pm.inboxStatus({ site: session.site });
    return {
      base,
      site: session.site,
      csrf: session.csrf,
      pollMs: pollSeconds * 1000,
      unread: status.unread,
      ...(status.latestReceivedAt ? { latestReceivedAt: status.latestReceivedAt } : {}),
      ...(notice ? { notice } : {}),
    };
  }

  // ----------------------------------------------------------------- sign-in (IndieAuth)

  function signInForm(me: string, error?: string, status = 200, notice?: string | null): Response {
    const pre = preTokens.issue(Date.now());
    return page(
      signInPage({ base, ...(error ? { error } : {}), ...(notice ? { notice } : {}) }, { preCsrf: pre, me: me || (pm.sites.length === 1 ? pm.sites[0]! : ""), sites: pm.sites }),
      status,
      { "set-cookie": cookie(cookieNames.pre, pre, PRE_SIGNIN_LIFETIME_MS / 1000) },
    );
  }

  async function startSignIn(request: Request, clientAddress: string | undefined): Promise<Response> {
    const form = await readForm(request);
    const pre = parseCookies(request.headers.get("cookie")).get(cookieNames.pre);
    if (!sameOriginRequest(request, origin) || !pre || !sameSecret(form.get("csrf") ?? "", pre)) refuseCrossSite();
    const entered = form.get("me") ?? "";
    // Counted once the form is the inbox's own (a page elsewhere cannot spend the owner's
    // allowance), before its token is used or anything is fetched.
    const wait = signInLimiter.hit(clientAddress ?? "", Date.now());
    if (wait !== undefined) {
      return page(messagePage({ base }, "Too many sign-ins", `Too many sign-in attempts came from your address. Try again in ${wait} seconds.`, { href: base, label: "Back to the sign-in page" }), 429, {
        "retry-after": String(wait),
      });
    }
    // Single use: a replayed form is refused before anything is fetched.
    if (!preTokens.redeem(pre, Date.now())) return signInForm(entered, "This sign-in form was already used or has expired. Sign in again.", 400);
    try {
      const me = normalizeProfileUrl(entered, policy);
      if (!pm.sites.includes(me)) throw new WebInboxError("unknown_site", `This server holds no inbox for ${siteLabel(me)}.`);
      const server = await discoverAuthorizationServer(http, me, policy);
      const { verifier, challenge } = pkcePair();
      const state = await pm.sessions.create(SIGNIN, { me, authorizationEndpoint: server.authorizationEndpoint, issuer: server.issuer ?? null, verifier }, SIGNIN_LIFETIME_MS);
      const target = authorizationUrl({ authorizationEndpoint: server.authorizationEndpoint, clientId, redirectUri, state, challenge, me });
      return page(redirectPage({ base }, target), 200, { "set-cookie": cookie(cookieNames.signin, state, SIGNIN_LIFETIME_MS / 1000) });
    } catch (error) {
      if (error instanceof WebInboxError) return signInForm(entered, error.message, 400);
      throw error;
    }
  }

  async function finishSignIn(request: Request): Promise<Response> {
    const query = new URL(request.url).searchParams;
    const state = query.get("state") ?? "";
    const bound = parseCookies(request.headers.get("cookie")).get(cookieNames.signin) ?? "";
    const clear = cookie(cookieNames.signin, "", 0);
    const fail = (error: WebInboxError) => {
      const response = signInForm("", error.message, 400);
      response.headers.append("set-cookie", clear);
      return response;
    };
    try {
      // The state must be the one this browser was given (its cookie), and live: single use.
      if (!state || !bound || !sameSecret(state, bound)) throw new WebInboxError("invalid_state", "This sign-in was not started in this browser, or it has expired. Sign in again.");
      const record = await pm.sessions.take(SIGNIN, state);
      if (!record) throw new WebInboxError("invalid_state", "This sign-in has expired or was already used. Sign in again.");
      const data = record.data as { me: string; authorizationEndpoint: string; issuer: string | null; verifier: string };
      if (query.get("error")) throw new WebInboxError("access_denied", `Your site's sign-in page said no (${query.get("error")!.slice(0, 60)}).`);
      // IndieAuth §5.2.1: where the metadata named an issuer, `iss` must be exactly it.
      if (data.issuer !== null && query.get("iss") !== data.issuer) throw new WebInboxError("invalid_issuer", "The sign-in came back from another authorization server than your site names.");
      const code = query.get("code");
      if (!code) throw new WebInboxError("redeem_failed", "The sign-in came back without a code.");
      const me = await redeemCode(http, { authorizationEndpoint: data.authorizationEndpoint, code, clientId, redirectUri, verifier: data.verifier });
      await verifyMe(http, me, data.me, { authorizationEndpoint: data.authorizationEndpoint, ...(data.issuer ? { issuer: data.issuer } : {}) }, policy);
      const site = siteOf(me);
      if (!site) throw new WebInboxError("unknown_site", `You are ${siteLabel(me)}, but this server holds no inbox for that site.`);
      const secret = await pm.sessions.create(SESSION, { site, csrf: newSecret() }, lifetime * 1000);
      return redirect(base, [cookie(cookieNames.session, secret, lifetime), clear]);
    } catch (error) {
      if (error instanceof WebInboxError) return fail(error);
      throw error;
    }
  }

  // ----------------------------------------------------------------- pages

  function parseRecipients(text: string): string[] {
    const parts = text.split(/[\s,;]+/).filter(Boolean);
    if (parts.length === 0) throw new WebInboxError("invalid_profile_url", "Name at least one site to write to.");
    return [...new Set(parts.map((p) => normalizeProfileUrl(p, policy)))];
  }

  async function composeAnswer(session: Session, request: Request): Promise<Response> {
    const form = await readForm(request);
    checkForm(request, form, session.csrf);
    const v: ComposeValues = {
      to: form.get("to") ?? "",
      subject: (form.get("subject") ?? "").trim(),
      content: form.get("content") ?? "",
      html: (form.get("html") ?? "").trim(),
      vouch: (form.get("vouch") ?? "").trim(),
      hide: form.get("hide") === "1",
    };
    try {
      const to = parseRecipients(v.to);
      if (v.content.trim() === "") throw new WebInboxError("invalid_profile_url", "Write something to send.");
      const sent = await pm.send({
        from: session.site,
        to,
        content: v.content,
        ...(v.subject ? { subject: v.subject } : {}),
        ...(v.html ? { html: v.html } : {}),
        ...(v.vouch ? { vouch: v.vouch } : {}),
        ...(v.hide ? { hideRecipients: true } : {}),
      });
      return redirect(path(`c/${conversationId(session.site, sent.message)}`, "sent"));
    } catch (error) {
      if (error instanceof WebInboxError || (error instanceof PmError && (error.code === "invalid_request" || error.code === "too_large"))) {
        return page(composePage({ ...(await frameFor(session)), error: error.message }, v), 400);
      }
      throw error;
    }
  }

  async function threadOf(session: Session, id: string): Promise<Thread> {
    const thread = await pm.thread(id);
    if (!thread || thread.site !== session.site) {
      throw new HttpAnswer(page(messagePage(await frameFor(session), "Not found", "There is no such conversation in your inbox.", { href: base, label: "Back to the inbox" }), 404));
    }
    return thread;
  }

  async function reply(session: Session, id: string, request: Request): Promise<Response> {
    const form = await readForm(request);
    checkForm(request, form, session.csrf);
    const thread = await threadOf(session, id);
    const content = form.get("content") ?? "";
    const last = thread.items.at(-1);
    if (!last || content.trim() === "") return page(threadPage({ ...(await frameFor(session)), error: "Write something to send." }, thread, content), 400);
    // PROTOCOL.md §5: to the participants of the message answered, computed here — never from the form.
    const to = replyTargets(session.site, last);
    try {
      const subject = thread.subject && !/^re:/i.test(thread.subject) ? `Re: ${thread.subject}` : thread.subject;
      await pm.send({ from: session.site, to, content, inReplyTo: last.message, ...(subject ? { subject } : {}), ...(last.to === undefined && to.length > 1 ? { hideRecipients: true } : {}) });
    } catch (error) {
      if (error instanceof PmError && (error.code === "invalid_request" || error.code === "too_large")) {
        return page(threadPage({ ...(await frameFor(session)), error: error.message }, thread, content), 400);
      }
      throw error;
    }
    return redirect(path(`c/${id}`, "sent"));
  }

  /** What the "Block a site" form adds: the site's URL, or `host:` and its host (protocol/policy.ts), typed or ticked. */
  function blockEntry(typed: string, wholeHost: boolean): string {
    const text = typed.trim();
    if (text.toLowerCase().startsWith(HOST_BLOCK_PREFIX)) return text;
    const url = normalizeProfileUrl(text, { dev: true });
    return wholeHost ? `${HOST_BLOCK_PREFIX}${new URL(url).host}` : url;
  }

  async function settingsPost(session: Session, action: string, request: Request): Promise<Response> {
    const form = await readForm(request);
    checkForm(request, form, session.csrf);
    const site = form.get("site") ?? "";
    try {
      switch (action) {
        case "policy": {
          const value = form.get("policy");
          if (value !== "anyone" && value !== "contacts" && value !== "nobody") throw new WebInboxError("invalid_profile_url", "Choose who may write to you.");
          await pm.updateSettings(session.site, { policy: value });
          break;
        }
        case "contacts/add":
          await pm.updateSettings(session.site, { addContacts: [normalizeProfileUrl(site, { dev: true })] });
          break;
        case "contacts/remove":
          await pm.updateSettings(session.site, { removeContacts: [site] });
          break;
        case "blocked/add":
          await pm.updateSettings(session.site, { block: [blockEntry(site, form.get("scope") === "host")] });
          break;
        case "blocked/remove":
          await pm.updateSettings(session.site, { unblock: [site] });
          break;
        case "webhook":
          await pm.updateSettings(session.site, { webhook: (form.get("webhook") ?? "").trim() || null });
          break;
        case "tokens/revoke": {
          const id = form.get("id") ?? "";
          const mine = (await pm.tokens({ site: session.site })).some((t) => t.id === id);
          if (!mine || !(await pm.revokeToken(id))) throw new WebInboxError("invalid_profile_url", "There is no such token.");
          return redirect(path("settings", "revoked"));
        }
        case "delete-all":
          if (form.get("confirm") !== "yes") throw new WebInboxError("invalid_profile_url", "Tick the box to confirm that everything is to be deleted.");
          await pm.deleteAll({ site: session.site });
          return redirect(path("", "deleted-all"));
        default:
          return page(messagePage(await frameFor(session), "Not found", "There is no such page here."), 404);
      }
    } catch (error) {
      if (error instanceof WebInboxError || (error instanceof PmError && error.code === "invalid_request")) {
        const frame = { ...(await frameFor(session)), error: error.message };
        return page(settingsPage(frame, await pm.settings(session.site), await pm.tokens({ site: session.site })), 400);
      }
      throw error;
    }
    return redirect(path("settings", "saved"));
  }

  async function route(request: Request, p: string, clientAddress: string | undefined): Promise<Response> {
    const method = request.method.toUpperCase();
    const get = method === "GET" || method === "HEAD";
    const query = new URL(request.url).searchParams;
    if (p.startsWith("/static/") && get) return staticFile(p.slice("/static/".length), request);
    if (p === "/auth/callback" && get) return finishSignIn(request);

    if (p === "/signin" && method === "POST") return startSignIn(request, clientAddress);
    const session = await currentSession(request);
    if (!session) {
      if (p.endsWith(".json")) return json({ error: "invalid_token", error_description: "Sign in first." }, 401);
      if ((p === "/" || p === "") && get) return signInForm("", undefined, 200, query.get("notice"));
      return redirect(path("", method === "POST" ? "expired" : undefined));
    }
    if (p === "/signout" && method === "POST") {
      const form = await readForm(request);
      checkForm(request, form, session.csrf);
      await pm.sessions.remove(SESSION, session.secret);
      return redirect(path("", "signed-out"), [cookie(cookieNames.session, "", 0)]);
    }

    if (get) {
      if (p === "/" || p === "") {
        const q = (query.get("q") ?? "").trim().slice(0, 200);
        const conversations = await pm.conversations({ site: session.site, ...(q ? { q } : {}) });
        return page(inboxPage(await frameFor(session, query.get("notice")), { conversations, q }));
      }
      if (p === "/status.json") return json(await pm.inboxStatus({ site: session.site }));
      if (p === "/compose") {
        const to = query.get("to") ?? "";
        return page(composePage({ ...(await frameFor(session)) }, { to, subject: "", content: "", html: "", vouch: "", hide: false }));
      }
      if (p === "/settings") return page(settingsPage(await frameFor(session, query.get("notice")), await pm.settings(session.site), await pm.tokens({ site: session.site })));
      if (p === "/export.json") {
        const doc = await pm.exportAll({ site: session.site });
        const response = json(doc);
        response.headers.set("content-disposition", `attachment; filename="indiepm-${new URL(session.site).host.replace(/[^A-Za-z0-9.-]/g, "_")}-${doc.exportedAt.slice(0, 10)}.json"`);
        return response;
      }
      const live = /^\/c\/([A-Za-z0-9_-]+)\/status\.json$/.exec(p);
      if (live) {
        const thread = await pm.thread(live[1]!);
        if (!thread || thread.site !== session.site) return json({ error: "unknown_message", error_description: "No such conversation." }, 404);
        const messages = thread.items.flatMap((i) => (i.direction === "sent" ? [{ message: i.message, deliveries: i.deliveries }] : []));
        return json({ pending: messages.some((m) => m.deliveries.some((d) => d.status === "pending")), messages });
      }
      const conv = /^\/c\/([A-Za-z0-9_-]+)$/.exec(p);
      if (conv) {
        const thread = await threadOf(session, conv[1]!);
        // A GET changes nothing: the page's script reads the conversation by posting its
        // "Mark read" form (without script, the owner presses it). Not right after "Mark unread".
        const autoRead = thread.unread > 0 && query.get("notice") !== "unread";
        return page(threadPage(await frameFor(session, query.get("notice")), thread, "", autoRead));
      }
      return page(messagePage(await frameFor(session), "Not found", "There is no such page here.", { href: base, label: "Back to the inbox" }), 404);
    }

    if (method === "POST") {
      if (p === "/compose") return composeAnswer(session, request);
      const convPost = /^\/c\/([A-Za-z0-9_-]+)\/(reply|read|delete)$/.exec(p);
      if (convPost) {
        const [, id, action] = convPost as unknown as [string, string, string];
        if (action === "reply") return reply(session, id, request);
        const form = await readForm(request);
        checkForm(request, form, session.csrf);
        await threadOf(session, id);
        if (action === "read") {
          const read = form.get("read") !== "0";
          await pm.markRead({ conversation: id }, read);
          return redirect(read ? path("", "read") : path(`c/${id}`, "unread"));
        }
        await pm.deleteConversation(id);
        return redirect(path("", "deleted"));
      }
      if (p === "/m/read" || p === "/m/delete") {
        const form = await readForm(request);
        checkForm(request, form, session.csrf);
        const thread = await threadOf(session, form.get("conversation") ?? "");
        // §2: a message is (sender, message ID); two senders may use the same ID.
        const item = thread.items.find((i) => i.message === form.get("message") && i.sender === form.get("sender"));
        if (!item) return page(messagePage(await frameFor(session), "Not found", "There is no such message in this conversation."), 404);
        if (p === "/m/read") {
          const read = form.get("read") !== "0";
          await pm.markRead({ sender: item.sender, message: item.message, site: session.site }, read);
          return redirect(path(`c/${thread.id}`, read ? "read" : "unread"));
        }
        await pm.deleteMessage(item.message, { site: session.site, sender: item.sender });
        const rest = await pm.thread(thread.id);
        return redirect(rest ? path(`c/${thread.id}`, "deleted") : path("", "deleted"));
      }
      const settings = /^\/settings\/([a-z-]+(?:\/[a-z-]+)?)$/.exec(p);
      if (settings) return settingsPost(session, settings[1]!, request);
    }
    const h = securityHeaders("text/plain; charset=utf-8");
    h.set("allow", "GET, HEAD, POST");
    return new Response("Method not allowed\n", { status: 405, headers: h });
  }

  return {
    url: url.href,
    async handle(request, context = {}) {
      try {
        const pathname = new URL(request.url).pathname;
        const p = context.path ?? (pathname.startsWith(base) ? `/${pathname.slice(base.length)}` : pathname);
        return await route(request, p, context.clientAddress);
      } catch (error) {
        if (error instanceof HttpAnswer) return error.response;
        log?.error("web inbox request failed", { error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
        return page(messagePage({ base }, "Something went wrong", "The server failed to answer this page; the failure was logged. Try again in a moment.", { href: base, label: "Back to the inbox" }), 500);
      }
    },
    async close() {
      await ownHttp?.close();
    },
  };
}

/**
 * The standalone server's routing: the engine answers the federation endpoint
 * (`POST /`) and the owner API (`/api/…`), the inbox everything else (`GET /` first).
 */
export function withWebInbox(server: PmServer, inbox: WebInbox): Pick<PmServer, "handle" | "trustProxy"> {
  return {
    // So that createNodeHandler takes the client address by the engine's rule (the sign-in limit counts it).
    trustProxy: server.trustProxy,
    handle(request, context = {}) {
      const p = context.path ?? new URL(request.url).pathname;
      const engine = p.startsWith("/api/") || ((p === "/" || p === "") && request.method.toUpperCase() === "POST");
      return engine ? server.handle(request, context) : inbox.handle(request, { path: p, ...(context.clientAddress === undefined ? {} : { clientAddress: context.clientAddress }) });
    },
  };
}
