/**
 * Issue 9 item 11: the trust-proxy setting (http/trust-proxy.ts), checked as
 * express-rate-limit checks Express's `trust proxy`, and the client address it gives
 * from `X-Forwarded-For` (rightmost untrusted entry, as proxy-addr). The real proxy rows
 * (nginx in front of a standalone server) are in packages/cli/test/trust-proxy.test.ts.
 */
import { describe, expect, it } from "vitest";
import { createMemoryStore } from "../src/store/memory.js";
import { createPmServer } from "../src/server.js";
import { TRUST_PROXY_OFF, clientAddressOf, clientAddressResolver, parseTrustProxy } from "../src/node-http.js";

describe("parseTrustProxy", () => {
  it.each([
    { value: undefined, kind: "off", description: "false" },
    { value: false, kind: "off", description: "false" },
    { value: "false", kind: "off", description: "false" },
    { value: 0, kind: "off", description: "false" },
    { value: 1, kind: "hops", description: "1" },
    { value: "2", kind: "hops", description: "2" },
    { value: "loopback", kind: "addresses", description: "loopback" },
    { value: "loopback, 10.0.0.0/8", kind: "addresses", description: "loopback,10.0.0.0/8" },
    { value: ["192.0.2.7", "2001:db8::/32"], kind: "addresses", description: "192.0.2.7,2001:db8::/32" },
  ])("accepts $value", ({ value, kind, description }) => {
    expect(parseTrustProxy(value)).toMatchObject({ kind, description });
  });

  it.each([
    {
      value: true,
      message:
        /^indiepm: option `trustProxy` is true, which trusts every X-Forwarded-For entry and so lets any client choose its own address for the rate limits; set it to a number of proxy hops/,
    },
    { value: "TRUE", message: /is true, which trusts every X-Forwarded-For entry/ },
    { value: "0.0.0.0/0", message: /names "0.0.0.0\/0", every address, which is as permissive as true/ },
    { value: "::/0", message: /as permissive as true/ },
    { value: -1, message: /must be a whole number of proxy hops/ },
    { value: 1.5, message: /must be a whole number of proxy hops/ },
    { value: "proxy.example", message: /names "proxy.example", which is not an IP address, a CIDR range or one of loopback, linklocal, uniquelocal\./ },
    { value: "10.0.0.0/33", message: /names "10.0.0.0\/33"/ },
    { value: " , ", message: /names no proxy address/ },
    { value: { hops: 1 }, message: /must be false, a number of hops, or a list/ },
  ])("refuses $value in one sentence naming the setting", ({ value, message }) => {
    let caught: unknown;
    try {
      parseTrustProxy(value);
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: "invalid_config", message: expect.stringMatching(message) });
    expect((caught as Error).message.match(/\. |;/g)?.length ?? 0).toBeLessThanOrEqual(1);
  });

  it("createPmServer checks the option once, at start-up", () => {
    const options = { endpoint: "http://127.0.0.1:1/", sites: [], store: createMemoryStore(), dev: true };
    expect(() => createPmServer({ ...options, trustProxy: true })).toThrow(/option `trustProxy` is true/);
    expect(createPmServer({ ...options, trustProxy: "loopback" }).trustProxy).toMatchObject({ kind: "addresses", description: "loopback" });
    expect(createPmServer(options).trustProxy).toBe(TRUST_PROXY_OFF);
  });
});

describe("clientAddressOf: the rightmost untrusted address", () => {
  const loopback = parseTrustProxy("loopback");
  const oneHop = parseTrustProxy(1);
  it.each([
    { what: "off: the connection, whatever the header says", remote: "127.0.0.1", xff: "203.0.113.9", trust: TRUST_PROXY_OFF, client: "127.0.0.1" },
    { what: "loopback proxy: the address it appended", remote: "127.0.0.1", xff: "203.0.113.9", trust: loopback, client: "203.0.113.9" },
    { what: "a spoofed entry left of the proxy's is ignored", remote: "127.0.0.1", xff: "198.51.100.1, 203.0.113.9", trust: loopback, client: "203.0.113.9" },
    { what: "an untrusted connection is the client, its header ignored", remote: "203.0.113.50", xff: "198.51.100.1", trust: loopback, client: "203.0.113.50" },
    { what: "one hop", remote: "10.1.2.3", xff: "198.51.100.1, 203.0.113.9", trust: oneHop, client: "203.0.113.9" },
    { what: "two hops", remote: "10.1.2.3", xff: "198.51.100.1, 203.0.113.9", trust: parseTrustProxy(2), client: "198.51.100.1" },
    { what: "several header lines", remote: "127.0.0.1", xff: ["198.51.100.1", "203.0.113.9"], trust: loopback, client: "203.0.113.9" },
    {
      what: "chained trusted proxies",
      remote: "127.0.0.1",
      xff: "203.0.113.9, 10.0.0.5",
      trust: parseTrustProxy("loopback, 10.0.0.0/8"),
      client: "203.0.113.9",
    },
    { what: "every entry trusted: the leftmost", remote: "127.0.0.1", xff: "127.0.0.2", trust: loopback, client: "127.0.0.2" },
    { what: "an IPv4-mapped connection matches IPv4 ranges", remote: "::ffff:127.0.0.1", xff: "203.0.113.9", trust: loopback, client: "203.0.113.9" },
    { what: "IPv6 loopback", remote: "::1", xff: "2001:db8::7", trust: loopback, client: "2001:db8::7" },
    { what: "an entry that is not an address ends the walk", remote: "127.0.0.1", xff: "unknown", trust: loopback, client: "127.0.0.1" },
    { what: "no header behind a trusted proxy: the proxy", remote: "127.0.0.1", xff: undefined, trust: loopback, client: "127.0.0.1" },
  ])("$what", ({ remote, xff, trust, client }) => {
    expect(clientAddressOf(remote, xff, trust)).toBe(client);
  });

  it("warns once when X-Forwarded-For arrives while the setting is off, naming the setting", () => {
    const warnings: string[] = [];
    const resolve = clientAddressResolver(TRUST_PROXY_OFF, (message) => warnings.push(message));
    expect(resolve("127.0.0.1", undefined)).toBe("127.0.0.1");
    expect(warnings).toEqual([]);
    expect(resolve("127.0.0.1", "203.0.113.9")).toBe("127.0.0.1");
    expect(resolve("127.0.0.1", "203.0.113.10")).toBe("127.0.0.1");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /^A request came through a proxy \(it has X-Forwarded-For\) but trustProxy \(indiepm serve --trust-proxy\) is off, so the rate limits count every client of that proxy as one/,
    );
  });
});
