/**
 * An outbound client for a pm server under attack in development mode: the real
 * `createHttpClient` (so every fetch is a real one, over loopback), fenced so that
 * whatever URL an attacker names, the server under test reaches nothing but this
 * machine's loopback — and every request it makes is counted.
 */
import { createHttpClient, isIpHost, parseIpv4Literal, PmError, type HttpClient, type Lookup } from "@indiepm/core";

export interface FencedClient extends HttpClient {
  close(): Promise<void>;
  /** Every URL fetched (GET) or posted to, in order. */
  fetched: Array<{ method: "GET" | "POST"; url: string }>;
  /** Hosts refused because they are not loopback. */
  refused: string[];
}

function isLoopbackHost(hostname: string): boolean {
  const bare = hostname.replace(/^\[|\]$/g, "");
  if (bare === "localhost") return true;
  if (!isIpHost(hostname)) return false;
  return parseIpv4Literal(bare)?.startsWith("127.") === true || bare === "::1";
}

/**
 * A development-mode client (http, IP hosts allowed) that refuses, as `address_refused`,
 * any host that is not loopback — before DNS, so names never leave the machine.
 */
export function fencedClient(options: { timeoutMs?: number } = {}): FencedClient {
  const refused: string[] = [];
  const fetched: FencedClient["fetched"] = [];
  // Second line: a name that slipped past the fence (a redirect) resolves nowhere but here.
  const lookup: Lookup = async (hostname) => {
    if (hostname === "localhost") return [{ address: "127.0.0.1", family: 4 }];
    refused.push(hostname);
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
  };
  const timeoutMs = options.timeoutMs ?? 3_000;
  const real = createHttpClient({ dev: true, lookup, getTimeoutMs: timeoutMs, postTimeoutMs: timeoutMs });
  const fence = (url: string): void => {
    const hostname = URL.canParse(url) ? new URL(url).hostname : "";
    if (!isLoopbackHost(hostname)) {
      refused.push(hostname);
      throw new PmError("address_refused", `The attack harness keeps this server on loopback; refused ${hostname}.`);
    }
  };
  return {
    fetched,
    refused,
    async get(url, opts) {
      fence(url);
      fetched.push({ method: "GET", url });
      return real.get(url, opts);
    },
    async postForm(url, form, opts) {
      fence(url);
      fetched.push({ method: "POST", url });
      return real.postForm(url, form, opts);
    },
    async postJson(url, body, opts) {
      fence(url);
      fetched.push({ method: "POST", url });
      return real.postJson!(url, body, opts);
    },
    close: () => real.close(),
  };
}
