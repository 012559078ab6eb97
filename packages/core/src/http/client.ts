/**
 * The real `HttpClient` (PROTOCOL.md §1 limits, §6 "Outgoing requests"): undici's
 * `fetch` over a dedicated `Agent` whose connector resolves each host name once, checks
 * every address it got against §6, and connects to the checked address itself — no
 * second resolution between check and connect, so DNS rebinding cannot slip a private
 * address in. Names are resolved by c-ares off libuv's thread pool, with a deadline
 * (`resolver.ts`). Redirects are followed by hand so every hop is checked the same way.
 */
import { isIP } from "node:net";
import { Agent, buildConnector, fetch, type Response as UndiciResponse } from "undici";
import { PmError } from "../errors.js";
import { isLocalhostName, refusalOf, type UrlPolicy } from "../urls.js";
import { canonicalIp, isRefusedAddress } from "./addresses.js";
import { createDnsLookup, type DnsLookup, type Lookup } from "./resolver.js";
import type { FetchedPage, HttpClient, HttpGetOptions, HttpPostJsonOptions, HttpPostOptions, PostAnswer, RedirectHop } from "./types.js";

/** Sent with every request, so site owners can tell who fetched their page. */
export const DEFAULT_USER_AGENT = "indiepm/0.1 (+https://github.com/indiepm)";

/** `Accept` of a GET: discovery wants HTML, and takes anything (§1: a `Link` header may be on any answer). */
export const GET_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1";

export type { Lookup, ResolvedAddress } from "./resolver.js";

/**
 * Default limits: §1 for GET (5 s in all, 1 MiB, 5 redirects), §6 for POST answers (10 s,
 * 64 KiB), 2 s for a name lookup (two tries per DNS server).
 */
export const DEFAULT_HTTP_LIMITS = {
  dnsTimeoutMs: 2_000,
  getTimeoutMs: 5_000,
  getMaxBytes: 1024 * 1024,
  maxRedirects: 5,
  postTimeoutMs: 10_000,
  postMaxBytes: 64 * 1024,
} as const;

export interface HttpClientOptions {
  /**
   * Development mode (PROTOCOL.md "URLs", §6): http, IP hosts, localhost and every
   * address allowed. Production (`false`) refuses all of them.
   */
  dev: boolean;
  /** `User-Agent` of every request (default `DEFAULT_USER_AGENT`). */
  userAgent?: string;
  /**
   * Name resolution. Default: c-ares (`dns.promises.Resolver`) asking `dnsServers`, off
   * libuv's thread pool, within `dnsTimeoutMs`. It does not read /etc/hosts: `localhost`
   * and `*.localhost` are loopback in development mode and refused in production.
   */
  lookup?: Lookup;
  /** DNS servers of the default lookup (`"127.0.0.1:5353"`, `"[::1]:53"`); default: the system's. Not with `lookup`. */
  dnsServers?: readonly string[];
  /** Time for one name lookup, every try included (default 2 000 ms); then `timeout`. */
  dnsTimeoutMs?: number;
  /**
   * IP addresses production mode connects to although §6 refuses them: a peer you run on
   * purpose inside your network, or a test server. Plain addresses, no ranges. The URL
   * rules (https, a domain name) still apply.
   */
  allowedAddresses?: readonly string[];
  /** Extra certificate authorities (PEM) to trust besides Node's: a private PKI, tests. */
  ca?: string | readonly string[];
  /** §1: time for a GET, redirects and body included (default 5 000 ms). */
  getTimeoutMs?: number;
  /** §1: most body bytes a GET reads (default 1 MiB). */
  getMaxBytes?: number;
  /** §1: most redirects a GET follows (default 5). */
  maxRedirects?: number;
  /** §6: time for a POST and its answer (default 10 000 ms). */
  postTimeoutMs?: number;
  /** §6: most bytes of a POST's answer (default 64 KiB); a longer answer is `bad_response`. */
  postMaxBytes?: number;
}

/** An `HttpClient` that owns connections; `close()` ends them (tests, shutdown). */
export interface ClosableHttpClient extends HttpClient {
  close(): Promise<void>;
}

interface Settings {
  dev: boolean;
  userAgent: string;
  lookup: Lookup;
  /** The default lookup, when the client owns it (cancelled by `close()`). */
  ownLookup: DnsLookup | undefined;
  allowed: ReadonlySet<string>;
  ca: string[] | undefined;
  getTimeoutMs: number;
  getMaxBytes: number;
  maxRedirects: number;
  postTimeoutMs: number;
  postMaxBytes: number;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * The outbound client of PROTOCOL.md §6: every hop's URL checked against the URL rules,
 * every address against §6 (production), §1/§6 time and size limits.
 * @throws PmError `invalid_config` when an option is wrong.
 */
export function createHttpClient(options: HttpClientOptions): ClosableHttpClient {
  const settings = parseOptions(options);
  const agent = new Agent({ connect: addressCheckingConnector(settings) });
  const policy: UrlPolicy = { dev: settings.dev };

  async function get(url: string, opts: HttpGetOptions = {}): Promise<FetchedPage> {
    const timeoutMs = opts.timeoutMs ?? settings.getTimeoutMs;
    const maxBytes = opts.maxBytes ?? settings.getMaxBytes;
    const maxRedirects = opts.maxRedirects ?? settings.maxRedirects;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
    let current = checkTarget(url, policy);
    const visited: string[] = [];
    const hops: RedirectHop[] = [];
    try {
      for (;;) {
        visited.push(current.href);
        const response = await fetch(current, {
          method: "GET",
          headers: mergeHeaders({ "user-agent": settings.userAgent, accept: GET_ACCEPT }, opts.headers),
          redirect: "manual",
          signal,
          dispatcher: agent,
        });
        hops.push({ url: current.href, status: response.status });
        const location = response.headers.get("location");
        if (REDIRECT_STATUSES.has(response.status) && location !== null) {
          void response.body?.cancel().catch(ignore);
          current = nextHop(current, location, visited, maxRedirects, policy);
          continue;
        }
        const info = { url: current.href, status: response.status, headers: copyHeaders(response) };
        const read = await readLimited(response, maxBytes, opts.stopWhen && ((chunk) => opts.stopWhen!(chunk, info)));
        return { ...info, body: read.body, truncated: read.truncated, redirects: visited, hops };
      }
    } catch (error) {
      throw asPmError(error, timeout, current, timeoutMs, opts.signal);
    }
  }

  function postForm(url: string, form: URLSearchParams, opts: HttpPostOptions = {}): Promise<PostAnswer> {
    return post(url, form.toString(), "application/x-www-form-urlencoded", opts);
  }

  function postJson(url: string, body: unknown, opts: HttpPostJsonOptions = {}): Promise<PostAnswer> {
    return post(url, JSON.stringify(body), opts.contentType ?? "application/json", opts);
  }

  async function post(url: string, body: string, contentType: string, opts: HttpPostOptions): Promise<PostAnswer> {
    const timeoutMs = opts.timeoutMs ?? settings.postTimeoutMs;
    const maxBytes = opts.maxBytes ?? settings.postMaxBytes;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = opts.signal ? AbortSignal.any([timeout, opts.signal]) : timeout;
    const target = checkTarget(url, policy);
    try {
      const response = await fetch(target, {
        method: "POST",
        headers: {
          ...mergeHeaders({ "user-agent": settings.userAgent, accept: "application/json" }, opts.headers),
          "content-type": contentType,
        },
        body,
        redirect: "manual",
        signal,
        dispatcher: agent,
      });
      const read = await readLimited(response, maxBytes);
      if (read.truncated) {
        throw new PmError("bad_response", `${target.host} answered with more than ${maxBytes} bytes (PROTOCOL.md §6 limit).`);
      }
      const text = new TextDecoder().decode(read.body);
      return { url: target.href, status: response.status, headers: copyHeaders(response), text, json: parseJson(text) };
    } catch (error) {
      throw asPmError(error, timeout, target, timeoutMs, opts.signal);
    }
  }

  const close = async () => {
    settings.ownLookup?.cancel();
    await agent.close();
  };
  return { get, postForm, postJson, close };
}

function parseOptions(options: HttpClientOptions): Settings {
  const fail = (message: string): never => {
    throw new PmError("invalid_config", message);
  };
  if (typeof options !== "object" || options === null) fail("createHttpClient needs an options object, e.g. { dev: false }.");
  if (typeof options.dev !== "boolean") fail("createHttpClient: `dev` must be true or false (false in production).");
  const positive = (name: keyof typeof DEFAULT_HTTP_LIMITS, allowZero = false): number => {
    const value = options[name] ?? DEFAULT_HTTP_LIMITS[name];
    if (!Number.isInteger(value) || value < (allowZero ? 0 : 1))
      fail(`createHttpClient: \`${name}\` must be a ${allowZero ? "non-negative" : "positive"} whole number, got ${String(value)}.`);
    return value;
  };
  const allowed = new Set<string>();
  for (const ip of options.allowedAddresses ?? []) {
    const canonical = canonicalIp(ip);
    if (canonical === undefined) fail(`createHttpClient: allowedAddresses holds ${JSON.stringify(ip)}, which is not an IP address.`);
    else allowed.add(canonical);
  }
  if (options.userAgent !== undefined && (typeof options.userAgent !== "string" || options.userAgent.trim() === "")) {
    fail("createHttpClient: `userAgent` must be a non-empty string.");
  }
  if (options.lookup !== undefined && typeof options.lookup !== "function") fail("createHttpClient: `lookup` must be a function.");
  if (options.dnsServers !== undefined) {
    if (options.lookup !== undefined) fail("createHttpClient: give `lookup` or `dnsServers`, not both (`dnsServers` configures the default lookup).");
    if (!Array.isArray(options.dnsServers) || options.dnsServers.length === 0 || options.dnsServers.some((s) => typeof s !== "string")) {
      fail('createHttpClient: `dnsServers` must be a non-empty list of addresses, e.g. ["127.0.0.1:5353"].');
    }
  }
  const dnsTimeoutMs = positive("dnsTimeoutMs");
  const ownLookup = options.lookup ? undefined : createDnsLookup({ servers: options.dnsServers, timeoutMs: dnsTimeoutMs });
  return {
    dev: options.dev,
    userAgent: options.userAgent ?? DEFAULT_USER_AGENT,
    lookup: options.lookup ?? ownLookup!,
    ownLookup,
    allowed,
    ca: options.ca === undefined ? undefined : typeof options.ca === "string" ? [options.ca] : [...options.ca],
    getTimeoutMs: positive("getTimeoutMs"),
    getMaxBytes: positive("getMaxBytes"),
    maxRedirects: positive("maxRedirects", true),
    postTimeoutMs: positive("postTimeoutMs"),
    postMaxBytes: positive("postMaxBytes"),
  };
}

/** The URL rules (PROTOCOL.md "URLs") on a URL about to be requested. */
function checkTarget(url: string | URL, policy: UrlPolicy): URL {
  if (!URL.canParse(String(url))) throw new PmError("invalid_request", `${String(url)} is not an absolute URL.`);
  const target = new URL(String(url));
  target.hash = "";
  const refusal = refusalOf(target, policy);
  if (refusal) throw new PmError("address_refused", `Refused to fetch ${target.href}: ${refusal}.`);
  return target;
}

/** §1: the next hop of a redirect, checked like the first one; a loop or a 6th redirect fails. */
function nextHop(current: URL, location: string, visited: string[], maxRedirects: number, policy: UrlPolicy): URL {
  if (!URL.canParse(location, current)) {
    throw new PmError("discovery_failed", `${current.href} redirected to ${JSON.stringify(location)}, which is not a URL.`);
  }
  const next = new URL(location, current);
  next.hash = "";
  if (visited.includes(next.href)) {
    throw new PmError("discovery_failed", `Redirect loop: ${current.href} redirected back to ${next.href}.`);
  }
  if (visited.length > maxRedirects) {
    throw new PmError("discovery_failed", `${visited[0]} redirected more than ${maxRedirects} times (PROTOCOL.md §1 limit).`);
  }
  return checkTarget(next, policy);
}

/**
 * The connector of the client's `Agent`: resolve once, check every address (§6,
 * production only), connect to a checked address with TLS still verifying the host name.
 */
function addressCheckingConnector(settings: Settings): buildConnector.connector {
  const connect = buildConnector(settings.ca ? { ca: settings.ca } : {});
  return (opts, callback) => {
    resolveChecked(opts.hostname, settings).then(
      (addresses) => {
        // SNI and certificate checks use the name, the socket uses the checked address.
        const servername = opts.servername || (isIP(opts.hostname) ? undefined : opts.hostname);
        const attempt = (index: number): void => {
          connect({ ...opts, hostname: addresses[index]!, ...(servername ? { servername } : {}) }, (...args) => {
            if (args[0] !== null && index + 1 < addresses.length) attempt(index + 1);
            else callback(...args);
          });
        };
        attempt(0);
      },
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error)), null),
    );
  };
}

/**
 * §6 "checked after DNS resolution": every address of the name must be acceptable — a
 * name with one private address among public ones is refused rather than half-trusted.
 */
async function resolveChecked(hostname: string, settings: Settings): Promise<string[]> {
  let addresses: string[];
  if (isIP(hostname)) {
    addresses = [hostname];
  } else if (isLocalhostName(hostname)) {
    // RFC 6761 §6.3: this machine, whatever DNS says; c-ares would not read /etc/hosts anyway.
    if (!settings.dev) throw new PmError("address_refused", `Refused to connect to ${hostname}: production servers do not accept localhost (PROTOCOL.md §6).`);
    addresses = LOOPBACK;
  } else {
    try {
      addresses = (await settings.lookup(hostname)).map((a) => a.address);
    } catch (error) {
      if (error instanceof PmError) throw error;
      const code = errorCode(error);
      if (code === "ETIMEOUT") throw new PmError("timeout", `Could not resolve ${hostname}: the DNS server did not answer in time.`, { cause: error });
      throw new PmError("network_error", `Could not resolve ${hostname}${code ? ` (${code})` : ""}.`, { cause: error });
    }
    if (addresses.length === 0) throw new PmError("network_error", `Could not resolve ${hostname}: no address.`);
  }
  if (settings.dev) return addresses;
  for (const address of addresses) {
    if (settings.allowed.has(canonicalIp(address) ?? address)) continue;
    const reason = isRefusedAddress(address);
    if (reason === undefined) continue;
    const what = address === hostname ? address : `${hostname} (${address})`;
    throw new PmError("address_refused", `Refused to connect to ${what}: the address is ${reason} (PROTOCOL.md §6; development mode allows it).`);
  }
  return addresses;
}

const LOOPBACK = ["127.0.0.1", "::1"];

/**
 * Reads at most `maxBytes` of the body; `onChunk` sees each piece within the limit and
 * stops the read by returning true. Whatever is not read is cancelled.
 */
async function readLimited(
  response: UndiciResponse,
  maxBytes: number,
  onChunk?: (chunk: Uint8Array) => boolean,
): Promise<{ body: Uint8Array; truncated: boolean }> {
  const reader = response.body?.getReader();
  if (!reader) return { body: new Uint8Array(0), truncated: false };
  const chunks: Uint8Array[] = [];
  let total = 0;
  const finish = (truncated: boolean, cancel: boolean) => {
    if (cancel) void reader.cancel().catch(ignore);
    return { body: concat(chunks, total), truncated };
  };
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return finish(false, false);
    const room = maxBytes - total;
    const chunk = value.byteLength > room ? value.subarray(0, room) : value;
    if (chunk.byteLength > 0) {
      chunks.push(chunk);
      total += chunk.byteLength;
      let stop: boolean;
      try {
        stop = onChunk?.(chunk) ?? false;
      } catch (error) {
        finish(false, true);
        throw new ConsumerError(error);
      }
      if (stop) return finish(false, true);
    }
    if (chunk !== value) return finish(true, true);
  }
}

/** An error thrown by a caller's `stopWhen`: passed on as it is, not as a network error. */
class ConsumerError {
  constructor(readonly error: unknown) {}
}

/** What a failed request throws: a `PmError`, or the reason of the caller's `signal` (`HttpGetOptions.signal`) when that cut it. */
function asPmError(error: unknown, timeout: AbortSignal, url: URL, timeoutMs: number, caller?: AbortSignal): unknown {
  if (error instanceof ConsumerError) return error.error;
  if (caller?.aborted) return caller.reason;
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e instanceof PmError) return e;
  }
  if (timeout.aborted) {
    return new PmError("timeout", `${url.host} did not answer within ${timeoutMs} ms (${url.href}).`, { cause: error });
  }
  const code = errorCode(error);
  if (code?.startsWith("UND_ERR_") && code.endsWith("_TIMEOUT")) {
    return new PmError("timeout", `${url.host} did not answer in time (${code}).`, { cause: error });
  }
  return new PmError("network_error", `Could not reach ${url.host}: ${code ?? innermostMessage(error)}.`, { cause: error });
}

/** The message of the deepest cause ("bad port" rather than fetch's "fetch failed"). */
function innermostMessage(error: unknown): string {
  let message = String(error);
  for (let e: unknown = error; e instanceof Error; e = e.cause) message = e.message;
  return message;
}

/** The first `code` (ECONNREFUSED, ENOTFOUND, UND_ERR_…) along an error's cause chain. */
function errorCode(error: unknown): string | undefined {
  for (let e: unknown = error; typeof e === "object" && e !== null; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/** The caller's headers over the defaults, names lowercased so `User-Agent` replaces `user-agent`. */
function mergeHeaders(defaults: Record<string, string>, extra: Record<string, string> = {}): Record<string, string> {
  const merged = { ...defaults };
  for (const [name, value] of Object.entries(extra)) merged[name.toLowerCase()] = value;
  return merged;
}

function copyHeaders(response: UndiciResponse): Headers {
  const headers = new Headers();
  for (const [name, value] of response.headers) headers.append(name, value);
  return headers;
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

function parseJson(text: string): unknown {
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function ignore(): void {}
