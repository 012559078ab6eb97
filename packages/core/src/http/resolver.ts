/**
 * Name resolution for the outbound client (PROTOCOL.md §6 "checked after DNS
 * resolution") that stays off libuv's thread pool. `dns.lookup` (getaddrinfo) runs on
 * that pool — four threads shared with every file read and write — so a sender site
 * whose name an attacker makes slow to resolve would stall the store. This resolver
 * asks DNS servers itself (c-ares, `dns.promises.Resolver`) on the event loop, with a
 * per-try timeout and a hard deadline for the whole lookup.
 *
 * c-ares does not read /etc/hosts: `localhost` and `*.localhost` never reach it (the
 * connector maps them to loopback in development mode and refuses them otherwise).
 */
import { Resolver } from "node:dns/promises";
import { PmError } from "../errors.js";

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to every address it has (like `dns.lookup(name, { all: true })`). */
export type Lookup = (hostname: string) => Promise<ResolvedAddress[]>;

export interface DnsLookupOptions {
  /** DNS servers (`"1.2.3.4"`, `"1.2.3.4:53"`, `"[::1]:53"`); default: the system's (/etc/resolv.conf). */
  servers?: readonly string[] | undefined;
  /** The whole lookup, both record types and every try, within this many ms. */
  timeoutMs: number;
}

/** Tries per server; c-ares doubles the wait on each, so `timeoutMs / 3` per first try fits two. */
const TRIES = 2;

/** A lookup that can be stopped (client shutdown). */
export interface DnsLookup extends Lookup {
  cancel(): void;
}

/**
 * A `Lookup` over c-ares: A and AAAA asked at once, IPv4 answers first. A name with no
 * answer within `timeoutMs` fails with `PmError` `timeout`; one that does not exist
 * with the resolver's error (`ENOTFOUND`, `ENODATA`) as `cause`.
 * @throws PmError `invalid_config` when a server is not an address.
 */
export function createDnsLookup(options: DnsLookupOptions): DnsLookup {
  const resolver = new Resolver({ timeout: Math.max(1, Math.floor(options.timeoutMs / 3)), tries: TRIES });
  if (options.servers) {
    try {
      resolver.setServers([...options.servers]);
    } catch (error) {
      throw new PmError(
        "invalid_config",
        `createHttpClient: \`dnsServers\` must be IP addresses with optional ports, got ${JSON.stringify(options.servers)}.`,
        { cause: error },
      );
    }
  }
  const lookup = async (hostname: string): Promise<ResolvedAddress[]> => {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(timeoutError(hostname, options.timeoutMs)), options.timeoutMs);
    });
    const answers = Promise.allSettled([resolver.resolve4(hostname), resolver.resolve6(hostname)]);
    try {
      const [v4, v6] = await Promise.race([answers, deadline]);
      const found: ResolvedAddress[] = [
        ...(v4.status === "fulfilled" ? v4.value.map((address) => ({ address, family: 4 as const })) : []),
        ...(v6.status === "fulfilled" ? v6.value.map((address) => ({ address, family: 6 as const })) : []),
      ];
      if (found.length > 0) return found;
      const errors = [v4, v6].flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
      if (errors.some((e) => codeOf(e) === "ETIMEOUT")) throw timeoutError(hostname, options.timeoutMs, errors[0]);
      // ENODATA for one type and ENOTFOUND for the other: the name has no address.
      throw errors.find((e) => codeOf(e) !== "ENODATA") ?? errors[0];
    } finally {
      clearTimeout(timer);
    }
  };
  return Object.assign(lookup, { cancel: () => resolver.cancel() });
}

function timeoutError(hostname: string, timeoutMs: number, cause?: unknown): PmError {
  return new PmError("timeout", `Could not resolve ${hostname}: no DNS answer within ${timeoutMs} ms.`, cause === undefined ? {} : { cause });
}

function codeOf(error: unknown): unknown {
  return typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
}
