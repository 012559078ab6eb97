/**
 * `createPmServer`'s options, checked and given their defaults once (STYLE.md practice 5):
 * the one rule for each engine option. The Express middleware and `indiepm serve` hand
 * their engine options to `resolvePmServerOptions` and check only what they add; a wrong
 * option is `PmError("invalid_config")` with one sentence naming the field.
 */
import type { Logger, PmServerOptions, RetryOptions, SitePolicy } from "./api.js";
import { PmError } from "./errors.js";
import { BODY_LIMITS } from "./http/body-limits.js";
import { parseTrustProxy, type TrustProxy } from "./http/trust-proxy.js";
import type { HttpClient } from "./http/types.js";
import { DEFAULT_RATE_LIMITS } from "./limits.js";
import type { RateLimitOptions } from "./protocol/rate-limit.js";
import type { HtmlSanitizer } from "./sanitize.js";
import type { Store } from "./store/types.js";
import type { Flow, ProtocolEvent } from "./types.js";
import { DEFAULT_RETRY, HOST_BLOCK_PREFIX, WRITE_POLICIES, describeValue, isPlainObject, parseBlockEntry, unknownOptionSentence } from "@indiepm/protocol";
import { refusalOf } from "./urls.js";

/** §4 step 4: default lifetime of granted standing tokens, 30 days. */
export const DEFAULT_GRANT_LIFETIME_SECONDS = 30 * 24 * 60 * 60;

/**
 * The owner token's one rule, for every way of starting a server (`createPmServer`,
 * `indiepm()`, `INDIEPM_TOKEN` of `indiepm serve`): a non-empty string. One shorter than
 * this is taken (CLI.md promises `serve` runs with whatever `INDIEPM_TOKEN` holds, and
 * scripts rely on it) but `createPmServer` warns that it can be guessed: `newSecret()`
 * makes 43 characters.
 */
export const MIN_OWNER_TOKEN_LENGTH = 16;

const consoleLogger: Logger = {
  info: (message, data) => console.log(`indiepm: ${message}`, data ?? ""),
  warn: (message, data) => console.warn(`indiepm: ${message}`, data ?? ""),
  error: (message, data) => console.error(`indiepm: ${message}`, data ?? ""),
};

/**
 * Every default of `createPmServer`'s options, in one place. `http` and `sanitizer` have
 * none here: `createPmServer` makes its own (`createHttpClient({ dev })`,
 * `createSanitizerPool()`) and closes them with the server.
 */
export const PM_SERVER_DEFAULTS = Object.freeze({
  dev: false,
  ownerToken: undefined,
  defaultFlow: "token" as Flow,
  policies: Object.freeze({}) as Readonly<Record<string, SitePolicy>>,
  retry: DEFAULT_RETRY as Readonly<Required<RetryOptions>>,
  grantLifetimeSeconds: DEFAULT_GRANT_LIFETIME_SECONDS,
  rateLimits: DEFAULT_RATE_LIMITS as Readonly<Required<RateLimitOptions>>,
  maxBodyBytes: BODY_LIMITS.federation,
  trustProxy: false,
  logger: consoleLogger,
  now: Date.now,
});

// Every key of PmServerOptions: the compiler flags this table when the options change.
const OPTION_KEYS = {
  endpoint: true,
  sites: true,
  store: true,
  dev: true,
  ownerToken: true,
  http: true,
  defaultFlow: true,
  policies: true,
  grantLifetimeSeconds: true,
  rateLimits: true,
  retry: true,
  maxBodyBytes: true,
  trustProxy: true,
  sanitizer: true,
  onEvent: true,
  logger: true,
  now: true,
} as const satisfies Record<keyof PmServerOptions, true>;

/** The names `createPmServer` takes; any other is refused with "did you mean". */
export const PM_SERVER_OPTION_NAMES: readonly (keyof PmServerOptions)[] = Object.freeze(Object.keys(OPTION_KEYS) as (keyof PmServerOptions)[]);

const RETRY_KEYS = ["baseDelayMs", "maxDelayMs", "giveUpAfterMs", "handshakeTimeoutMs"] as const satisfies readonly (keyof RetryOptions)[];
const RATE_LIMIT_KEYS = ["perSenderPerMinute", "perClientPerMinute"] as const satisfies readonly (keyof RateLimitOptions)[];
const POLICY_KEYS = ["policy", "contacts", "blocked"] as const satisfies readonly (keyof SitePolicy)[];
const STORE_METHODS = ["insert", "get", "update", "put", "remove", "find", "count", "close"] as const;

/** The options as the engine reads them: every field checked, every default filled in. */
export interface ResolvedPmServerOptions {
  /** Canonical. */
  endpoint: string;
  /** Canonical, in the order given. */
  sites: string[];
  store: Store;
  dev: boolean;
  ownerToken: string | undefined;
  /** The caller's client, or `undefined`: `createPmServer` then makes (and closes) its own. */
  http: HttpClient | undefined;
  defaultFlow: Flow;
  /** Keyed by canonical site URL; contacts and block entries canonical. */
  policies: Record<string, SitePolicy>;
  retry: Required<RetryOptions>;
  grantLifetimeSeconds: number;
  rateLimits: Required<RateLimitOptions>;
  maxBodyBytes: number;
  trustProxy: TrustProxy;
  /** The caller's sanitizer, or `undefined`: `createPmServer` then makes (and closes) its own. */
  sanitizer: HtmlSanitizer | undefined;
  onEvent: ((event: ProtocolEvent) => void) | undefined;
  logger: Logger;
  now: () => number;
}

export interface ResolveOptionsContext {
  /**
   * How a sentence names a field (default: option \`FIELD\`). `indiepm serve` names its
   * flags and config keys (`--site`, `` `retry.maxDelayMs` in FILE ``) this way.
   */
  label?: (field: string) => string;
  /** How a sentence names the development switch, in the fix it suggests (default: \`dev: true\`; `indiepm serve`: --dev). */
  devSwitch?: string;
  /**
   * The store is opened only once the options are known good (`indiepm serve` opens its
   * data folder after checking): `store` is then not required, and the result has none.
   */
  storeOpensLater?: boolean;
}

const optionLabel = (field: string): string => `option \`${field}\``;

/**
 * Checks `createPmServer`'s options and fills in every default (`PM_SERVER_DEFAULTS`).
 * @throws PmError `invalid_config`, one sentence naming the field and, where it can, the fix.
 */
export function resolvePmServerOptions(raw: unknown, context?: ResolveOptionsContext & { storeOpensLater?: false }): ResolvedPmServerOptions;
export function resolvePmServerOptions(raw: unknown, context: ResolveOptionsContext & { storeOpensLater: true }): Omit<ResolvedPmServerOptions, "store">;
export function resolvePmServerOptions(raw: unknown, context: ResolveOptionsContext = {}): Omit<ResolvedPmServerOptions, "store"> & { store?: Store } {
  const label = context.label ?? optionLabel;
  const devSwitch = context.devSwitch ?? "`dev: true`";
  const invalid = (text: string): PmError => new PmError("invalid_config", `indiepm: ${text}`);
  const wrong = (field: string, why: string, value: unknown): PmError => invalid(`${label(field)} ${why}, got ${describeValue(value)}.`);

  if (!isPlainObject(raw)) throw invalid(`createPmServer needs an options object such as { endpoint, sites, store }, got ${describeValue(raw)}.`);
  const unknown = unknownOptionSentence(raw, PM_SERVER_OPTION_NAMES);
  if (unknown) throw invalid(unknown);
  const options = raw as Partial<Record<keyof PmServerOptions, unknown>>;

  const dev = options.dev ?? PM_SERVER_DEFAULTS.dev;
  if (typeof dev !== "boolean") throw wrong("dev", "must be true or false", dev);

  const url = (field: string, value: unknown, urlDev: boolean): string => {
    if (typeof value !== "string" || !URL.canParse(value)) throw wrong(field, "must be an absolute http(s) URL", value);
    const parsed = new URL(value);
    if (parsed.protocol !== "https:" && parsed.protocol !== "http:") throw wrong(field, "must be an absolute http(s) URL", value);
    if (parsed.hash || value.includes("#")) throw wrong(field, "must not have a fragment", value);
    const refusal = refusalOf(parsed, { dev: urlDev });
    if (refusal) throw wrong(field, `is refused: ${refusal.replace(/\(use development mode for http\)/, `(set ${devSwitch} for local testing)`)}`, value);
    return parsed.href;
  };
  const positive = (field: string, value: unknown, fallback: number): number => {
    if (value === undefined) return fallback;
    if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) throw wrong(field, "must be a positive number", value);
    return value;
  };
  const group = <K extends string>(field: string, value: unknown, keys: readonly K[], example: string): Partial<Record<K, unknown>> => {
    if (value === undefined) return {};
    if (!isPlainObject(value)) throw wrong(field, `must be an object such as ${example}`, value);
    const prefixed = Object.fromEntries(Object.keys(value).map((k) => [`${field}.${k}`, true]));
    const sentence = unknownOptionSentence(
      prefixed,
      keys.map((k) => `${field}.${k}`),
    );
    if (sentence) throw invalid(sentence);
    return value as Partial<Record<K, unknown>>;
  };
  const fn = (field: string, value: unknown): void => {
    if (value !== undefined && typeof value !== "function") throw wrong(field, "must be a function", value);
  };

  if (options.endpoint === undefined) {
    throw invalid(`${label("endpoint")} is required: the URL of this endpoint as the world sees it, e.g. "https://example.com/pm/".`);
  }
  const endpoint = url("endpoint", options.endpoint, dev);
  // No sites is allowed (CLI.md: `serve` without `--site`): every notify is then 404.
  if (!Array.isArray(options.sites)) throw wrong("sites", 'must be an array of site URLs, e.g. ["https://example.com/"]', options.sites);
  const sites = (options.sites as unknown[]).map((s, i) => url(`sites[${i}]`, s, dev));

  let store: Store | undefined;
  if (!(context.storeOpensLater && options.store === undefined)) {
    const s = options.store as Partial<Record<(typeof STORE_METHODS)[number], unknown>> | null | undefined;
    if (typeof s !== "object" || s === null || !STORE_METHODS.every((m) => typeof s[m] === "function")) {
      throw wrong("store", `must implement the Store interface (${STORE_METHODS.join(", ")}), such as openNedbStore() or createMemoryStore()`, options.store);
    }
    store = options.store as Store;
  }

  // The one owner-token rule: a non-empty string (a short one is warned about by
  // createPmServer, see MIN_OWNER_TOKEN_LENGTH); without one the owner API answers 401.
  const ownerToken = options.ownerToken;
  if (ownerToken !== undefined && (typeof ownerToken !== "string" || ownerToken.trim() === "")) {
    throw invalid(`${label("ownerToken")} must be a non-empty string (e.g. 32 random bytes, base64url).`);
  }

  const http = options.http as Partial<HttpClient> | undefined;
  if (http !== undefined && (typeof http !== "object" || http === null || typeof http.get !== "function" || typeof http.postForm !== "function")) {
    throw wrong("http", "must be an HttpClient (createHttpClient())", http);
  }

  const defaultFlow = options.defaultFlow ?? PM_SERVER_DEFAULTS.defaultFlow;
  if (defaultFlow !== "token" && defaultFlow !== "message") throw wrong("defaultFlow", 'must be "token" or "message"', defaultFlow);

  if (options.policies !== undefined && !isPlainObject(options.policies)) {
    throw wrong("policies", 'must be an object keyed by site URL, such as {"https://example.com/": {"policy": "contacts"}}', options.policies);
  }
  const policies: Record<string, SitePolicy> = {};
  for (const [site, value] of Object.entries((options.policies ?? PM_SERVER_DEFAULTS.policies) as Record<string, unknown>)) {
    const field = `policies["${site}"]`;
    const key = url(field, site, dev);
    const policy = group(field, value, POLICY_KEYS, '{"policy": "anyone"}') as SitePolicy;
    if (policy.policy !== undefined && !(WRITE_POLICIES as readonly unknown[]).includes(policy.policy)) {
      throw wrong(`${field}.policy`, 'must be "anyone", "contacts" or "nobody"', policy.policy);
    }
    const list = (name: string, items: unknown): unknown[] => {
      if (!Array.isArray(items)) throw wrong(`${field}.${name}`, "must be an array", items);
      return items;
    };
    policies[key] = {
      ...policy,
      ...(policy.contacts ? { contacts: list("contacts", policy.contacts).map((c, i) => url(`${field}.contacts[${i}]`, c, true)) } : {}),
      ...(policy.blocked ? { blocked: list("blocked", policy.blocked).map((c, i) => blockEntry(`${field}.blocked[${i}]`, c)) } : {}),
    };
  }
  /** A configured block-list entry: a site URL or `host:NAME` (protocol/policy.ts). */
  function blockEntry(field: string, value: unknown): string {
    if (typeof value === "string" && value.trim().toLowerCase().startsWith(HOST_BLOCK_PREFIX)) {
      try {
        return parseBlockEntry(value, label(field));
      } catch (error) {
        throw invalid(error instanceof Error ? error.message : String(error));
      }
    }
    return url(field, value, true);
  }

  const retryIn = group("retry", options.retry, RETRY_KEYS, '{"baseDelayMs": 5000}');
  const retry: Required<RetryOptions> = {
    baseDelayMs: positive("retry.baseDelayMs", retryIn.baseDelayMs, PM_SERVER_DEFAULTS.retry.baseDelayMs),
    maxDelayMs: positive("retry.maxDelayMs", retryIn.maxDelayMs, PM_SERVER_DEFAULTS.retry.maxDelayMs),
    giveUpAfterMs: positive("retry.giveUpAfterMs", retryIn.giveUpAfterMs, PM_SERVER_DEFAULTS.retry.giveUpAfterMs),
    handshakeTimeoutMs: positive("retry.handshakeTimeoutMs", retryIn.handshakeTimeoutMs, PM_SERVER_DEFAULTS.retry.handshakeTimeoutMs),
  };
  const grantLifetimeSeconds = options.grantLifetimeSeconds ?? PM_SERVER_DEFAULTS.grantLifetimeSeconds;
  if (typeof grantLifetimeSeconds !== "number" || !Number.isInteger(grantLifetimeSeconds) || grantLifetimeSeconds < 60 || grantLifetimeSeconds > 31_536_000) {
    throw wrong("grantLifetimeSeconds", "must be whole seconds from 60 to 31536000 (PROTOCOL.md §2 expires_in)", grantLifetimeSeconds);
  }
  const limitsIn = group("rateLimits", options.rateLimits, RATE_LIMIT_KEYS, '{"perSenderPerMinute": 60}');
  const rateLimits: Required<RateLimitOptions> = {
    perSenderPerMinute: positive("rateLimits.perSenderPerMinute", limitsIn.perSenderPerMinute, PM_SERVER_DEFAULTS.rateLimits.perSenderPerMinute),
    perClientPerMinute: positive("rateLimits.perClientPerMinute", limitsIn.perClientPerMinute, PM_SERVER_DEFAULTS.rateLimits.perClientPerMinute),
  };
  const maxBodyBytes = options.maxBodyBytes ?? PM_SERVER_DEFAULTS.maxBodyBytes;
  if (typeof maxBodyBytes !== "number" || !Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1) {
    throw wrong("maxBodyBytes", "must be a positive whole number of bytes", maxBodyBytes);
  }
  const trustProxy = parseTrustProxy(options.trustProxy ?? PM_SERVER_DEFAULTS.trustProxy, label("trustProxy"));

  const sanitizer = options.sanitizer as Partial<HtmlSanitizer> | undefined;
  if (sanitizer !== undefined && (typeof sanitizer !== "object" || sanitizer === null || typeof sanitizer.sanitize !== "function")) {
    throw wrong("sanitizer", "must be an HtmlSanitizer (createSanitizerPool())", sanitizer);
  }
  fn("onEvent", options.onEvent);
  fn("now", options.now);
  const logger = options.logger as Partial<Record<keyof Logger, unknown>> | undefined;
  if (
    logger !== undefined &&
    (typeof logger !== "object" || logger === null || !(["info", "warn", "error"] as const).every((m) => typeof logger[m] === "function"))
  ) {
    throw wrong("logger", "must have info, warn and error methods (console works)", logger);
  }

  return {
    endpoint,
    sites,
    ...(store === undefined ? {} : { store }),
    dev,
    ownerToken: ownerToken as string | undefined,
    http: http as HttpClient | undefined,
    defaultFlow,
    policies,
    retry,
    grantLifetimeSeconds,
    rateLimits,
    maxBodyBytes,
    trustProxy,
    sanitizer: sanitizer as HtmlSanitizer | undefined,
    onEvent: options.onEvent as ((event: ProtocolEvent) => void) | undefined,
    logger: (logger as Logger | undefined) ?? PM_SERVER_DEFAULTS.logger,
    now: (options.now as (() => number) | undefined) ?? PM_SERVER_DEFAULTS.now,
  };
}
