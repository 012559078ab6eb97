/**
 * Who the client is when indiepm runs behind a reverse proxy (issue 9 item 11). Every
 * connection then comes from the proxy, so PROTOCOL.md §6's per-client rate limits (and
 * the web inbox's sign-in limiter) counted every client as one, `127.0.0.1`. With the
 * `trustProxy` setting the client address is read from `X-Forwarded-For`: walking it from
 * the right (the entry the nearest proxy appended), past the trusted proxies, the first
 * address that is not trusted is the client; what lies to its left was written by the
 * client and is ignored. This is the one place that rule lives: the standalone server
 * (`createNodeHandler`) and the Express middleware both call `resolveClientAddress`.
 *
 * Values are those of Express's `trust proxy` (proxy-addr), and are checked as
 * express-rate-limit checks that setting:
 * - `false` (the default), `0`: no proxy; `X-Forwarded-For` is ignored, and its arrival is
 *   warned about once (express-rate-limit's ERR_ERL_UNEXPECTED_X_FORWARDED_FOR);
 * - a number of hops: that many proxies in front (`1`: one proxy on the same host);
 * - addresses and CIDR ranges, as a list or comma-separated, with the names `loopback`
 *   (127.0.0.1/8, ::1), `linklocal` and `uniquelocal` as in proxy-addr.
 * `true` (trust every hop) is refused (ERR_ERL_PERMISSIVE_TRUST_PROXY): any client could
 * then choose its own address by sending `X-Forwarded-For`. A /0 range is the same and is
 * refused too.
 */
import { BlockList, isIP } from "node:net";
import { PmError } from "../errors.js";

/** What the setting may be given as: the engine option, the config file, `--trust-proxy`. */
export type TrustProxyValue = boolean | number | string | readonly string[];

/** A checked setting. */
export interface TrustProxy {
  /** `off`: the connection's address is the client; `hops`: the first `hops` addresses are proxies; `addresses`: those in `trusted` are. */
  readonly kind: "off" | "hops" | "addresses";
  readonly hops: number;
  /** The addresses and ranges, as given (names kept), for messages and logs. */
  readonly entries: readonly string[];
  /** `false`, a number, or the comma-separated entries: how `--trust-proxy` would say it. */
  readonly description: string;
  /** `true` when `address` is a trusted proxy (kind `addresses`). */
  trusts(address: string): boolean;
}

/** The names proxy-addr gives to the special-purpose ranges (RFC 6890). */
const NAMED_RANGES: Readonly<Record<string, readonly string[]>> = {
  loopback: ["127.0.0.1/8", "::1/128"],
  linklocal: ["169.254.0.0/16", "fe80::/10"],
  uniquelocal: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
};

/** Names a refusal of `true` points to: what to write instead. */
const FIX = "a number of proxy hops (1 for one proxy on this host) or the proxy's addresses (loopback, or a list such as 10.0.0.0/8)";

export const TRUST_PROXY_OFF: TrustProxy = Object.freeze({ kind: "off", hops: 0, entries: [], description: "false", trusts: () => false });

function invalid(field: string, text: string): PmError {
  return new PmError("invalid_config", `indiepm: ${field} ${text}`);
}

/**
 * Checks a trust-proxy value once (at start-up), naming `field` (`option \`trustProxy\``,
 * `--trust-proxy`, the config file's key) in the one sentence of a refusal.
 * @throws PmError `invalid_config`
 */
export function parseTrustProxy(value: unknown, field = "option `trustProxy`"): TrustProxy {
  if (value === undefined || value === null || value === false) return TRUST_PROXY_OFF;
  if (value === true || (typeof value === "string" && value.trim().toLowerCase() === "true")) {
    throw invalid(
      field,
      `is true, which trusts every X-Forwarded-For entry and so lets any client choose its own address for the rate limits; set it to ${FIX}.`,
    );
  }
  if (typeof value === "string" && value.trim().toLowerCase() === "false") return TRUST_PROXY_OFF;
  if (typeof value === "string" && /^\s*\d+\s*$/.test(value)) return parseTrustProxy(Number(value), field);
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value) || value < 0) throw invalid(field, `must be a whole number of proxy hops (0 or more), got ${String(value)}.`);
    if (value === 0) return TRUST_PROXY_OFF;
    return Object.freeze({ kind: "hops", hops: value, entries: [], description: String(value), trusts: () => false });
  }
  const list = typeof value === "string" ? value.split(",") : Array.isArray(value) ? (value as unknown[]) : undefined;
  if (list === undefined || list.some((entry) => typeof entry !== "string")) {
    throw invalid(field, `must be false, a number of hops, or a list of proxy addresses and CIDR ranges, got ${JSON.stringify(value)}.`);
  }
  const entries = (list as string[]).map((entry) => entry.trim()).filter((entry) => entry !== "");
  if (entries.length === 0) throw invalid(field, `names no proxy address; set it to ${FIX}, or false.`);
  const blocks = new BlockList();
  for (const entry of entries) {
    for (const range of NAMED_RANGES[entry.toLowerCase()] ?? [entry]) addRange(blocks, range, entry, field);
  }
  return Object.freeze({
    kind: "addresses",
    hops: 0,
    entries,
    description: entries.join(","),
    trusts: (address: string) => {
      const family = isIP(address);
      return family !== 0 && blocks.check(address, family === 4 ? "ipv4" : "ipv6");
    },
  });
}

function addRange(blocks: BlockList, range: string, entry: string, field: string): void {
  const [address = "", prefixText, ...rest] = range.split("/");
  const family = isIP(address);
  const bits = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? bits : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (family === 0 || rest.length > 0 || !(prefix >= 0 && prefix <= bits)) {
    throw invalid(field, `names ${JSON.stringify(entry)}, which is not an IP address, a CIDR range or one of loopback, linklocal, uniquelocal.`);
  }
  if (prefix === 0) throw invalid(field, `names ${JSON.stringify(entry)}, every address, which is as permissive as true; set it to ${FIX}.`);
  blocks.addSubnet(address, prefix, family === 4 ? "ipv4" : "ipv6");
}

/** `::ffff:192.0.2.1` (an IPv4 client of a dual-stack socket) as `192.0.2.1`, so IPv4 ranges apply. */
function plainAddress(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

/** The entries of `X-Forwarded-For` (every header line), nearest proxy last. */
function forwardedEntries(header: string | readonly string[] | null | undefined): string[] {
  if (header === undefined || header === null) return [];
  const text = typeof header === "string" ? header : header.join(",");
  return text
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
}

/**
 * The client's address: the connection's, or per `trust` the first untrusted address of
 * `X-Forwarded-For` from the right. An entry that is not an IP address is never a proxy
 * nor a client: the walk stops before it, at the last address it could vouch for.
 */
export function clientAddressOf(
  remoteAddress: string | undefined,
  forwardedFor: string | readonly string[] | null | undefined,
  trust: TrustProxy,
): string | undefined {
  if (remoteAddress === undefined) return undefined;
  const remote = plainAddress(remoteAddress);
  if (trust.kind === "off") return remote;
  // Nearest first: the connection, then X-Forwarded-For from its right end.
  const chain = [remote, ...forwardedEntries(forwardedFor).reverse().map(plainAddress)];
  let client = remote;
  for (let i = 0; i < chain.length; i++) {
    const address = chain[i]!;
    if (isIP(address) === 0) break;
    client = address;
    const trusted = trust.kind === "hops" ? i < trust.hops : trust.trusts(address);
    if (!trusted) break;
  }
  return client;
}

/** The one warning about `X-Forwarded-For` arriving while the setting is off. */
export function forwardedForIgnoredWarning(setting: string): string {
  return (
    `A request came through a proxy (it has X-Forwarded-For) but ${setting} is off, so the rate limits count every client of that proxy as one, the proxy's address; ` +
    `if indiepm runs behind a proxy, set ${setting} to ${FIX}.`
  );
}

/**
 * The client-address rule of one server: `clientAddressOf` under `trust`, and the
 * once-only warning when `X-Forwarded-For` arrives while `trust` is off.
 */
export function clientAddressResolver(
  trust: TrustProxy,
  warn: (message: string) => void,
  setting = "trustProxy (indiepm serve --trust-proxy)",
): (remoteAddress: string | undefined, forwardedFor: string | readonly string[] | null | undefined) => string | undefined {
  let warned = false;
  return (remoteAddress, forwardedFor) => {
    if (trust.kind === "off" && !warned && forwardedEntries(forwardedFor).length > 0) {
      warned = true;
      warn(forwardedForIgnoredWarning(setting));
    }
    return clientAddressOf(remoteAddress, forwardedFor, trust);
  };
}
