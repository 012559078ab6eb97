/**
 * `createPmServer`: one pm server (E in PROTOCOL.md) for one or more sites, both roles,
 * both flows. Options are checked once, by `resolvePmServerOptions` (options.ts).
 */
import type { PmServer, PmServerOptions, RequestContext } from "./api.js";
import { PmError, jsonResponse } from "./errors.js";
import { DuplicateKeyError } from "./store/types.js";
import { conversationsPage, messageWritten } from "./owner/conversations.js";
import { inboxPage, outboxPage } from "./owner/messages.js";
import { CHATS_PASS, ChatWrites, chatsPage, getChat, markChatRead } from "./owner/chats.js";
import { DiscoveryCache } from "./discovery/cache.js";
import { DeliverReadCache } from "./protocol/deliver-reads.js";
import { createHttpClient } from "./http/client.js";
import { WorkQueue } from "./protocol/jobs/queue.js";
import { handleOwnerApi } from "./owner/api.js";
import { deleteMessage, listInbox, listOutbox, listTokens, lookupMessage, prepareSend, revokeToken, sentView, type OwnerContext } from "./owner/messages.js";
import { CONVERSATIONS_PASS, deleteConversation, getThread, inboxStatus, listConversations, markRead } from "./owner/conversations.js";
import { type FilingPass, lookAtStart } from "./owner/filing.js";
import { arrivals } from "./owner/live.js";
import { deleteAll, exportAll } from "./owner/export.js";
import { cancelDelivery, countDeliveryProblems, listDeliveryProblems, retryDelivery } from "./owner/deliveries.js";
import { Profiles } from "./owner/profiles.js";
import { createOwnerSessions } from "./owner/sessions.js";
import { createSharedOwnerState } from "./owner/shared-state.js";
import { applySettingsChange } from "./owner/settings.js";
import { siteSettings } from "./settings.js";
import { NO_ENDPOINT_DETAIL, type Engine } from "./protocol/engine.js";
import { handleFederation, type FederationContext } from "./protocol/federation.js";
import { MIN_OWNER_TOKEN_LENGTH, resolvePmServerOptions } from "./options.js";
import { checkRecipients, RecipientsRefusedError } from "./owner/recipients.js";
import { RateLimiter, SharedRateLimiter } from "./protocol/rate-limit.js";
import { createSanitizerPool } from "./sanitize.js";
import { testWebhook, webhookStatus } from "./owner/webhook.js";
import { clearMicrosub, microsubStatus, setMicrosub } from "./owner/microsub.js";
import { discoverAttempt, webhookAttempt } from "./protocol/attempt.js";

/** The filings of older documents `start()` looks for (owner/filing.ts); each files a site after those it names in `after`. */
const FILING_PASSES: readonly FilingPass[] = [CONVERSATIONS_PASS, CHATS_PASS];

/** Creates a pm server. Call `start()` to resume stored work; `handle()` answers HTTP. */
export function createPmServer(options: PmServerOptions): PmServer {
  const { endpoint, sites, dev, defaultFlow, policies, retry, grantLifetimeSeconds, rateLimits, maxBodyBytes, trustProxy, now, onEvent, store, ...resolved } =
    resolvePmServerOptions(options);
  const log = resolved.logger;
  if (resolved.ownerToken !== undefined && resolved.ownerToken.trim().length < MIN_OWNER_TOKEN_LENGTH) {
    log.warn(`the owner token is shorter than ${MIN_OWNER_TOKEN_LENGTH} characters and could be guessed; use 32 random bytes (openssl rand -base64 32)`);
  }

  // A client this server made is this server's to close; one passed in is the caller's.
  const ownHttp = resolved.http ? undefined : createHttpClient({ dev });
  // Likewise the sanitizer's workers (started on the first received HTML).
  const ownSanitizer = resolved.sanitizer ? undefined : createSanitizerPool();
  let queue: WorkQueue | undefined;
  const chatWrites = new ChatWrites();
  const engine: Engine = {
    endpoint,
    sites: new Set(sites),
    urlPolicy: { dev },
    store,
    chatWrites,
    http: resolved.http ?? ownHttp!,
    retry,
    grantLifetimeSeconds,
    sanitizer: resolved.sanitizer ?? ownSanitizer!,
    now,
    random: Math.random,
    log,
    emit: (event) => {
      // A recipient whose page named an endpoint (this server writes to it) is a correspondent;
      // a discovery of a sender (§3/§4 step 3) is not: anyone may name any site as sender.
      if (event.action === "discover" && event.status === 200 && event.detail !== NO_ENDPOINT_DETAIL && event.to === event.recipient)
        engine.correspondent?.(event.to);
      try {
        onEvent?.(event);
      } catch (error) {
        log.error("onEvent listener threw", { error: String(error) });
      }
    },
    wake: () => queue?.wake(),
    // The server deals with the site anyway: its profile is read if missing or old (owner/profiles.ts).
    correspondent: (site) => {
      if (!sites.includes(site)) profiles.noteContact(site);
    },
    handshakeLocks: new Map(),
    discoveryCache: new DiscoveryCache(),
    ...(store.writeIfUnchanged ? { deliverReads: new DeliverReadCache() } : {}),
    sanitizing: new Map(),
  };
  queue = new WorkQueue(engine);
  const federation: FederationContext = {
    engine,
    policies,
    rateLimiter: store.shared ? new SharedRateLimiter(store.shared, rateLimits) : new RateLimiter(rateLimits),
    maxBodyBytes,
  };
  const owner: OwnerContext = { endpoint, sites: engine.sites, urlPolicy: engine.urlPolicy, store, defaultFlow, now, chatWrites };
  const profiles = new Profiles({ store, http: engine.http, now, log });
  let closing: Promise<void> | undefined;
  const heldSite = (site: string): string => {
    const canonical = typeof site === "string" && URL.canParse(site) ? new URL(site).href : undefined;
    if (!canonical || !engine.sites.has(canonical)) throw new PmError("invalid_request", `This server holds no site ${String(site)}.`);
    return canonical;
  };

  /** CLI.md `GET /health`: 200 while the store can be read and written, 503 otherwise (what a load balancer polls). */
  const health = async (): Promise<Response> => {
    if (closing) return jsonResponse({ status: "unavailable" }, 503);
    try {
      await store.count("settings");
      await store.check?.();
      return jsonResponse({ status: "ok" }, 200, { "cache-control": "no-store" });
    } catch (error) {
      log.warn("health check failed", { error: error instanceof Error ? error.message : String(error) });
      return jsonResponse({ status: "unavailable" }, 503, { "cache-control": "no-store" });
    }
  };

  const server: PmServer = {
    endpoint,
    sites,
    dev,
    trustProxy,
    async handle(request: Request, context: RequestContext = {}): Promise<Response> {
      const path = context.path ?? new URL(request.url).pathname;
      if (path === "/health" && (request.method === "GET" || request.method === "HEAD")) return health();
      if (closing) return jsonResponse({ error: "temporarily_unavailable", error_description: "The server is shutting down." }, 503, { "retry-after": "10" });
      if (path === "/" || path === "") {
        if (request.method === "POST") return handleFederation(federation, request, context.clientAddress);
        if (request.method === "GET" || request.method === "HEAD") {
          return new Response(
            `<!doctype html><meta charset="utf-8"><title>indiepm endpoint</title><p>This is the rel=pm private-messaging endpoint of ${sites.map(escapeHtml).join(", ")}. Messages are POSTed here (PROTOCOL.md §2).</p>`,
            { status: 200, headers: { "content-type": "text/html; charset=utf-8" } },
          );
        }
        return jsonResponse({ error: "invalid_request", error_description: "The pm endpoint takes POST." }, 405, { allow: "GET, HEAD, POST" });
      }
      if (path.startsWith("/api/")) return handleOwnerApi(server, resolved.ownerToken, request, path);
      return jsonResponse({ error: "invalid_request", error_description: `Nothing here: ${path}.` }, 404);
    },
    async send(input, options = {}) {
      const { outbox, deliveries } = await prepareSend(owner, input);
      if (options.checkRecipients) {
        // owner/recipients.ts: refused before anything is written; the unreachable are accepted and say so.
        const { refused, unreachable } = await checkRecipients(engine, discoverAttempt, outbox.recipients, outbox.flow);
        if (refused.length > 0) throw new RecipientsRefusedError(refused);
        for (const u of unreachable) {
          const d = deliveries.find((x) => x.recipient === u.site);
          if (d) d.detail = `Could not be reached when the message was written (${u.detail.replace(/\.$/, "")}); trying again.`;
        }
      }
      // The deliveries before the message: a crash between the two leaves deliveries of a
      // message never accepted (they fail, unseen) rather than a message in the outbox that
      // nothing delivers. A delivery run before its message is stored waits for it
      // (jobs/delivery.ts, UNSTORED_MESSAGE_GRACE_MS): another process may run it at once.
      const written: string[] = [];
      const stamp = chatWrites.stamp(store);
      try {
        for (const d of deliveries) {
          await store.insert("deliveries", d);
          written.push(d._id);
        }
        await store.insert("outbox", outbox);
      } catch (error) {
        // Nothing of a refused message stays queued (an ID already used). Any other failure
        // leaves them: the message may have been stored all the same (an answer lost with
        // the connection), and deliveries of one that was not fail after the grace.
        if (error instanceof DuplicateKeyError) for (const id of written) await store.remove("deliveries", id).catch(() => false);
        throw error;
      }
      await messageWritten(store, "out", outbox, false, chatWrites, stamp);
      queue?.wake();
      return sentView(outbox, deliveries);
    },
    inbox: (query) => listInbox(owner, query),
    outbox: (query) => listOutbox(owner, query),
    inboxPage: (query) => inboxPage(owner, query),
    outboxPage: (query) => outboxPage(owner, query),
    getMessage: (id) => lookupMessage(owner, id),
    deleteMessage: (id, query) =>
      deleteMessage(owner, id, {
        ...(query?.site === undefined ? {} : { site: heldSite(query.site) }),
        ...(query?.sender === undefined ? {} : { sender: query.sender }),
      }),
    tokens: (query) => listTokens(owner, query),
    revokeToken: (id) => revokeToken(owner, id),
    testWebhook: async (site) => testWebhook(engine, webhookAttempt, policies, heldSite(site)),
    webhookStatus: async (site) => webhookStatus(engine, heldSite(site)),
    microsub: async (site) => microsubStatus(store, heldSite(site)),
    async setMicrosub(site, target) {
      const key = heldSite(site);
      await setMicrosub(store, engine.urlPolicy, key, target, engine.now());
      return (await microsubStatus(store, key))!;
    },
    clearMicrosub: async (site) => clearMicrosub(store, heldSite(site)),
    settings: async (site) => siteSettings(store, policies, heldSite(site)),
    async updateSettings(site, change) {
      const key = heldSite(site);
      await applySettingsChange(store, key, change, engine.urlPolicy);
      return siteSettings(store, policies, key);
    },
    conversations: (query) => listConversations(owner, query),
    conversationsPage: (query) => conversationsPage(owner, query),
    chatsPage: (query) => chatsPage(owner, query),
    chat: (id, query) => getChat(owner, id, query),
    markChatRead: (id, read) => markChatRead(owner, id, read),
    thread: (id, query) => getThread(owner, id, query),
    markRead: (target, read) => markRead(owner, target, read),
    deleteConversation: (id) => deleteConversation(owner, id),
    inboxStatus: (query) => inboxStatus(owner, query),
    arrivals: (query) => arrivals(owner, heldSite(query.site), query.after),
    people: (sites, options) => profiles.people(sites, options),
    refreshPeople: (sites) => profiles.refresh(sites),
    avatar: (id) => profiles.avatar(id),
    deliveryProblems: async (query = {}) => listDeliveryProblems(owner, { ...query, ...(query.site === undefined ? {} : { site: heldSite(query.site) }) }),
    deliveryProblemCounts: async (query = {}) => countDeliveryProblems(owner, query.site === undefined ? {} : { site: heldSite(query.site) }),
    retryDelivery: async (id, query = {}) => retryDelivery(owner, () => queue?.wake(), id, query.site === undefined ? undefined : heldSite(query.site)),
    cancelDelivery: async (id, query = {}) => cancelDelivery(owner, id, query.site === undefined ? undefined : heldSite(query.site)),
    exportAll: (query) => exportAll(owner, policies, query),
    deleteAll: (query) => deleteAll(owner, query),
    sessions: createOwnerSessions(store, now),
    ...(store.shared ? { shared: createSharedOwnerState(store, store.shared, now) } : {}),
    async start() {
      queue?.start();
      // The look for older documents to file (owner/filing.ts), here rather than on the first owner read.
      await lookAtStart(owner, FILING_PASSES, engine.sites);
    },
    idle: async () => {
      await queue?.idle();
      // The reads of correspondents' h-cards a discovery started (owner/profiles.ts noteContact) are work too.
      await profiles.settled();
    },
    close(graceMs = 10_000) {
      closing ??= (async () => {
        await queue?.stop(graceMs);
        await profiles.close();
        await ownHttp?.close();
        await ownSanitizer?.close();
        await store.close();
      })();
      return closing;
    },
  };
  return server;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
