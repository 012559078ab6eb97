/**
 * `createPmServer`: one pm server (E in PROTOCOL.md) for one or more sites, both roles,
 * both flows. Options are checked here, once, with one sentence naming the field.
 */
import type { Logger, PmServer, PmServerOptions, RequestContext, SitePolicy } from "./api.js";
import { PmError, jsonResponse } from "./errors.js";
import { createHttpClient } from "./http/client.js";
import { parseTrustProxy } from "./http/trust-proxy.js";
import { WorkQueue } from "./owner/queue.js";
import { handleOwnerApi } from "./owner/api.js";
import { deleteMessage, listInbox, listOutbox, listTokens, lookupMessage, prepareSend, revokeToken, sentView, type OwnerContext } from "./owner/messages.js";
import { deleteConversation, getThread, inboxStatus, listConversations, markRead } from "./owner/conversations.js";
import { deleteAll, exportAll } from "./owner/export.js";
import { createOwnerSessions } from "./owner/sessions.js";
import { applySettingsChange, siteSettings } from "./protocol/policy.js";
import type { Engine } from "./protocol/engine.js";
import { handleFederation, type FederationContext } from "./protocol/federation.js";
import { DEFAULT_RETRY, HOST_BLOCK_PREFIX, MAX_BODY_BYTES, parseBlockEntry } from "@indiepm/protocol";
import { DEFAULT_RATE_LIMITS, RateLimiter } from "./protocol/rate-limit.js";
import { createSanitizerPool } from "./sanitize.js";
import type { Store } from "./store/types.js";
import { refusalOf } from "./urls.js";

/** §4 step 4: default lifetime of granted standing tokens, 30 days. */
export const DEFAULT_GRANT_LIFETIME_SECONDS = 30 * 24 * 60 * 60;

const consoleLogger: Logger = {
  info: (message, data) => console.log(`indiepm: ${message}`, data ?? ""),
  warn: (message, data) => console.warn(`indiepm: ${message}`, data ?? ""),
  error: (message, data) => console.error(`indiepm: ${message}`, data ?? ""),
};

function invalid(text: string): PmError {
  return new PmError("invalid_config", `indiepm: ${text}`);
}

function checkUrl(value: unknown, field: string, dev: boolean): string {
  if (typeof value !== "string" || !URL.canParse(value)) throw invalid(`option \`${field}\` must be an absolute http(s) URL, got ${JSON.stringify(value)}.`);
  const url = new URL(value);
  const refusal = refusalOf(url, { dev });
  if (refusal) throw invalid(`option \`${field}\` is refused: ${refusal}${dev ? "" : " (set `dev: true` for local testing)"}.`);
  if (url.hash) throw invalid(`option \`${field}\` must not have a fragment.`);
  return url.href;
}

/** A configured block-list entry: a site URL or `host:NAME` (protocol/policy.ts). */
function checkBlockEntry(value: unknown, field: string): string {
  if (typeof value === "string" && value.trim().toLowerCase().startsWith(HOST_BLOCK_PREFIX)) {
    try {
      return parseBlockEntry(value, `option \`${field}\``);
    } catch (error) {
      throw invalid(error instanceof Error ? error.message : String(error));
    }
  }
  return checkUrl(value, field, true);
}

function positive(value: unknown, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) throw invalid(`option \`${field}\` must be a positive number, got ${JSON.stringify(value)}.`);
  return value;
}

function isStore(value: unknown): value is Store {
  const s = value as Store | undefined;
  return !!s && ["insert", "get", "update", "put", "remove", "find", "count", "close"].every((m) => typeof (s as unknown as Record<string, unknown>)[m] === "function");
}

/** Creates a pm server. Call `start()` to resume stored work; `handle()` answers HTTP. */
export function createPmServer(options: PmServerOptions): PmServer {
  if (!options || typeof options !== "object") throw invalid("createPmServer needs an options object.");
  const dev = options.dev ?? false;
  if (typeof dev !== "boolean") throw invalid("option `dev` must be true or false.");
  const endpoint = checkUrl(options.endpoint, "endpoint", dev);
  // No sites is allowed (CLI.md: `serve` without `--site`): every notify is then 404.
  if (!Array.isArray(options.sites)) throw invalid("option `sites` must be a list of site URLs.");
  const sites = options.sites.map((s, i) => checkUrl(s, `sites[${i}]`, dev));
  if (!isStore(options.store)) throw invalid("option `store` must be a Store (openNedbStore or createMemoryStore).");
  if (options.ownerToken !== undefined && (typeof options.ownerToken !== "string" || options.ownerToken.trim() === "")) {
    throw invalid("option `ownerToken` must be a non-empty string.");
  }
  const defaultFlow = options.defaultFlow ?? "token";
  if (defaultFlow !== "token" && defaultFlow !== "message") throw invalid('option `defaultFlow` must be "token" or "message".');
  const policies: Record<string, SitePolicy> = {};
  for (const [site, policy] of Object.entries(options.policies ?? {})) {
    const key = checkUrl(site, `policies["${site}"]`, dev);
    if (policy.policy !== undefined && !["anyone", "contacts", "nobody"].includes(policy.policy)) {
      throw invalid(`option \`policies["${site}"].policy\` must be "anyone", "contacts" or "nobody".`);
    }
    policies[key] = {
      ...policy,
      ...(policy.contacts ? { contacts: policy.contacts.map((c, i) => checkUrl(c, `policies["${site}"].contacts[${i}]`, true)) } : {}),
      ...(policy.blocked ? { blocked: policy.blocked.map((c, i) => checkBlockEntry(c, `policies["${site}"].blocked[${i}]`)) } : {}),
    };
  }
  const retry = {
    baseDelayMs: positive(options.retry?.baseDelayMs, "retry.baseDelayMs", DEFAULT_RETRY.baseDelayMs),
    maxDelayMs: positive(options.retry?.maxDelayMs, "retry.maxDelayMs", DEFAULT_RETRY.maxDelayMs),
    giveUpAfterMs: positive(options.retry?.giveUpAfterMs, "retry.giveUpAfterMs", DEFAULT_RETRY.giveUpAfterMs),
    handshakeTimeoutMs: positive(options.retry?.handshakeTimeoutMs, "retry.handshakeTimeoutMs", DEFAULT_RETRY.handshakeTimeoutMs),
  };
  const grantLifetimeSeconds = positive(options.grantLifetimeSeconds, "grantLifetimeSeconds", DEFAULT_GRANT_LIFETIME_SECONDS);
  if (grantLifetimeSeconds < 60 || grantLifetimeSeconds > 31_536_000 || !Number.isInteger(grantLifetimeSeconds)) {
    throw invalid("option `grantLifetimeSeconds` must be whole seconds from 60 to 31536000 (PROTOCOL.md §2 expires_in).");
  }
  const rateLimits = {
    perSenderPerMinute: positive(options.rateLimits?.perSenderPerMinute, "rateLimits.perSenderPerMinute", DEFAULT_RATE_LIMITS.perSenderPerMinute),
    perClientPerMinute: positive(options.rateLimits?.perClientPerMinute, "rateLimits.perClientPerMinute", DEFAULT_RATE_LIMITS.perClientPerMinute),
  };
  const maxBodyBytes = positive(options.maxBodyBytes, "maxBodyBytes", MAX_BODY_BYTES);
  const trustProxy = parseTrustProxy(options.trustProxy);
  const now = options.now ?? Date.now;
  const log = options.logger ?? consoleLogger;
  const onEvent = options.onEvent;
  const store = options.store;

  // A client this server made is this server's to close; one passed in is the caller's.
  const ownHttp = options.http ? undefined : createHttpClient({ dev });
  if (options.sanitizer !== undefined && typeof options.sanitizer?.sanitize !== "function") throw invalid("option `sanitizer` must be an HtmlSanitizer (createSanitizerPool).");
  // Likewise the sanitizer's workers (started on the first received HTML).
  const ownSanitizer = options.sanitizer ? undefined : createSanitizerPool();
  let queue: WorkQueue | undefined;
  const engine: Engine = {
    endpoint,
    sites: new Set(sites),
    urlPolicy: { dev },
    store,
    http: options.http ?? ownHttp!,
    retry,
    grantLifetimeSeconds,
    sanitizer: options.sanitizer ?? ownSanitizer!,
    now,
    random: Math.random,
    log,
    emit: (event) => {
      try {
        onEvent?.(event);
      } catch (error) {
        log.error("onEvent listener threw", { error: String(error) });
      }
    },
    wake: () => queue?.wake(),
  };
  queue = new WorkQueue(engine);
  const federation: FederationContext = { engine, policies, rateLimiter: new RateLimiter(rateLimits), maxBodyBytes };
  const owner: OwnerContext = { endpoint, sites: engine.sites, urlPolicy: engine.urlPolicy, store, defaultFlow, now };
  let closing: Promise<void> | undefined;
  const heldSite = (site: string): string => {
    const canonical = typeof site === "string" && URL.canParse(site) ? new URL(site).href : undefined;
    if (!canonical || !engine.sites.has(canonical)) throw new PmError("invalid_request", `This server holds no site ${String(site)}.`);
    return canonical;
  };

  const server: PmServer = {
    endpoint,
    sites,
    dev,
    trustProxy,
    async handle(request: Request, context: RequestContext = {}): Promise<Response> {
      const path = context.path ?? new URL(request.url).pathname;
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
      if (path.startsWith("/api/")) return handleOwnerApi(server, options.ownerToken, request, path);
      return jsonResponse({ error: "invalid_request", error_description: `Nothing here: ${path}.` }, 404);
    },
    async send(input) {
      const { outbox, deliveries } = await prepareSend(owner, input);
      for (const d of deliveries) await store.insert("deliveries", d);
      await store.insert("outbox", outbox);
      queue?.wake();
      return sentView(outbox, deliveries);
    },
    inbox: (query) => listInbox(owner, query),
    outbox: (query) => listOutbox(owner, query),
    getMessage: (id) => lookupMessage(owner, id),
    deleteMessage: (id, query) => deleteMessage(owner, id, { ...(query?.site === undefined ? {} : { site: heldSite(query.site) }), ...(query?.sender === undefined ? {} : { sender: query.sender }) }),
    tokens: (query) => listTokens(owner, query),
    revokeToken: (id) => revokeToken(owner, id),
    settings: async (site) => siteSettings(store, policies, heldSite(site)),
    async updateSettings(site, change) {
      const key = heldSite(site);
      await applySettingsChange(store, key, change, engine.urlPolicy);
      return siteSettings(store, policies, key);
    },
    conversations: (query) => listConversations(owner, query),
    thread: (id) => getThread(owner, id),
    markRead: (target, read) => markRead(owner, target, read),
    deleteConversation: (id) => deleteConversation(owner, id),
    inboxStatus: (query) => inboxStatus(owner, query),
    exportAll: (query) => exportAll(owner, policies, query),
    deleteAll: (query) => deleteAll(owner, query),
    sessions: createOwnerSessions(store, now),
    async start() {
      queue?.start();
    },
    idle: () => queue?.idle() ?? Promise.resolve(),
    close(graceMs = 10_000) {
      closing ??= (async () => {
        await queue?.stop(graceMs);
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
