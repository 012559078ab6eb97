/** PROTOCOL.md §6 "Outgoing requests": address classification. One row per case. */
import { describe, expect, it } from "vitest";
import {
  canonicalIp,
  IPV4_SPECIAL_PURPOSE_BLOCKS,
  IPV6_SPECIAL_PURPOSE_BLOCKS,
  isRefusedAddress,
  parseIpv4Literal,
  refusingBlock,
} from "../src/http/addresses.js";

/**
 * §6: every row of the IANA special-purpose registries (and §6's multicast and retired
 * blocks), written here from the registries independently of the table in
 * `addresses.ts`: [address inside the block, the block that must decide it, refused?].
 * A refused row names its block; a `false` row is a globally reachable exception.
 */
const REGISTRY_ROWS: Array<[address: string, cidr: string, refused: boolean]> = [
  // IANA IPv4 Special-Purpose Address Registry
  ["0.1.2.3", "0.0.0.0/8", true],
  ["0.0.0.0", "0.0.0.0/32", true],
  ["10.1.2.3", "10.0.0.0/8", true],
  ["100.64.0.1", "100.64.0.0/10", true],
  ["100.127.255.255", "100.64.0.0/10", true],
  ["127.0.0.1", "127.0.0.0/8", true],
  ["127.255.255.254", "127.0.0.0/8", true],
  ["169.254.169.254", "169.254.0.0/16", true],
  ["172.16.0.1", "172.16.0.0/12", true],
  ["172.31.255.255", "172.16.0.0/12", true],
  ["192.0.0.100", "192.0.0.0/24", true],
  ["192.0.0.1", "192.0.0.0/29", true],
  ["192.0.0.8", "192.0.0.8/32", true],
  ["192.0.0.9", "192.0.0.9/32", false],
  ["192.0.0.10", "192.0.0.10/32", false],
  ["192.0.0.170", "192.0.0.170/32", true],
  ["192.0.0.171", "192.0.0.171/32", true],
  ["192.0.2.1", "192.0.2.0/24", true],
  ["192.31.196.1", "192.31.196.0/24", false],
  ["192.52.193.1", "192.52.193.0/24", false],
  ["192.88.99.1", "192.88.99.0/24", true],
  ["192.168.1.1", "192.168.0.0/16", true],
  ["192.175.48.1", "192.175.48.0/24", false],
  ["198.18.0.1", "198.18.0.0/15", true],
  ["198.19.255.255", "198.18.0.0/15", true],
  ["198.51.100.7", "198.51.100.0/24", true],
  ["203.0.113.9", "203.0.113.0/24", true],
  ["240.0.0.1", "240.0.0.0/4", true],
  ["255.255.255.254", "240.0.0.0/4", true],
  ["255.255.255.255", "255.255.255.255/32", true],
  // §6 multicast (IPv4 Multicast Address Space registry)
  ["224.0.0.1", "224.0.0.0/4", true],
  ["239.255.255.250", "224.0.0.0/4", true],
  // IANA IPv6 Special-Purpose Address Registry
  ["::1", "::1/128", true],
  ["::", "::/128", true],
  ["::ffff:10.0.0.1", "10.0.0.0/8", true], // IPv4-mapped: judged by the IPv4 it carries
  ["64:ff9b::a00:1", "10.0.0.0/8", true], // NAT64 well-known prefix, likewise
  ["64:ff9b:1::1", "64:ff9b:1::/48", true],
  ["100::1", "100::/64", true],
  ["100:0:0:1::1", "100:0:0:1::/64", true],
  ["2001:0:4136:e378:8000:63bf:f7f7:f7f7", "2001::/32", false], // Teredo (most specific), carrying client 8.8.8.8
  ["2001:4::1", "2001::/23", true],
  ["2001:1ff::1", "2001::/23", true],
  ["2001:1::1", "2001:1::1/128", false],
  ["2001:1::2", "2001:1::2/128", false],
  ["2001:1::3", "2001:1::3/128", false],
  ["2001:1::4", "2001::/23", true],
  ["2001:2::1", "2001:2::/48", true],
  ["2001:3::1", "2001:3::/32", false],
  ["2001:4:112::1", "2001:4:112::/48", false],
  ["2001:10::1", "2001:10::/28", true],
  ["2001:20::1", "2001:20::/28", false],
  ["2001:30::1", "2001:30::/28", false],
  ["2001:db8::1", "2001:db8::/32", true],
  ["2002:c0a8:101::", "192.168.0.0/16", true], // 6to4 carrying 192.168.1.1
  ["2620:4f:8000::1", "2620:4f:8000::/48", false],
  ["3fff::1", "3fff::/20", true],
  ["3fff:fff:ffff::1", "3fff::/20", true],
  ["5f00::1", "5f00::/16", true],
  ["fc00::1", "fc00::/7", true],
  ["fd12:3456:789a::1", "fc00::/7", true],
  ["fe80::1", "fe80::/10", true],
  ["febf:ffff::1", "fe80::/10", true],
  // §6 multicast and retired blocks
  ["ff02::1", "ff00::/8", true],
  ["fec0::1", "fec0::/10", true],
  ["::8.8.8.8", "::/96", true],
  ["::ffff:0:8.8.8.8", "::ffff:0:0:0/96", true],
];

describe("§6 the special-purpose registries, one row per block", () => {
  it.each(REGISTRY_ROWS)("%s is decided by %s (refused: %s)", (address, cidr, refused) => {
    const reason = isRefusedAddress(address);
    if (!refused) {
      expect(reason).toBeUndefined();
      // The exception is the most specific block; its refused parent does not win.
      const inTable = [...IPV4_SPECIAL_PURPOSE_BLOCKS, ...IPV6_SPECIAL_PURPOSE_BLOCKS].some((b) => b.cidr === cidr);
      expect(inTable).toBe(true);
      return;
    }
    const block = refusingBlock(address);
    expect(block?.cidr).toBe(cidr);
    expect(reason).toContain(`${block!.name} (${cidr}, ${block!.rfc})`);
  });

  it("every row of the table has a fixture row above (none is left untested)", () => {
    const tested = new Set(REGISTRY_ROWS.map(([, cidr]) => cidr));
    const carriers = ["::ffff:0:0/96", "64:ff9b::/96", "2002::/16", "2001::/32"]; // tested through what they carry, below
    const table = [...IPV4_SPECIAL_PURPOSE_BLOCKS, ...IPV6_SPECIAL_PURPOSE_BLOCKS].map((b) => b.cidr);
    expect(table.filter((cidr) => !tested.has(cidr) && !carriers.includes(cidr))).toEqual([]);
  });

  it("names the registry, the block and its RFC", () => {
    expect(isRefusedAddress("10.0.0.1")).toBe("Private-Use (10.0.0.0/8, RFC 1918)");
    expect(isRefusedAddress("::ffff:127.0.0.1")).toBe("IPv4-mapped Address (::ffff:0:0/96, RFC 4291) of 127.0.0.1: Loopback (127.0.0.0/8, RFC 1122 §3.2.1.3)");
  });
});

describe("§6 isRefusedAddress: notations and carried IPv4 addresses", () => {
  // [address, expected reason fragment | null when the address is public]
  const rows: Array<[string, string | null]> = [
    // IPv4: public, next to refused blocks
    ["93.184.215.14", null],
    ["8.8.8.8", null],
    ["1.1.1.1", null],
    ["172.15.255.255", null],
    ["172.32.0.0", null],
    ["100.63.255.255", null],
    ["100.128.0.0", null],
    ["169.253.255.255", null],
    ["192.0.1.0", null],
    ["198.17.255.255", null],
    ["198.20.0.0", null],
    ["223.255.255.255", null],
    ["11.0.0.0", null],
    // IPv4 in other notations (inet_aton / WHATWG URL)
    ["2130706433", "Loopback"],
    ["0177.0.0.1", "Loopback"],
    ["0x7f.1", "Loopback"],
    ["0x7f000001", "Loopback"],
    ["127.1", "Loopback"],
    ["127.0.1", "Loopback"],
    ["017700000001", "Loopback"],
    ["0xa.0.0.1", "Private-Use"],
    ["167772161", "Private-Use"], // 10.0.0.1
    ["0", "This host on this network"],
    ["127.0.0.1.", "Loopback"],
    ["1572395042", null], // 93.184.215.34
    // IPv6: public
    ["2606:2800:220:1:248:1893:25c8:1946", null],
    ["2001:4860:4860::8888", null],
    ["[2a00:1450:4001:82b::200e]", null],
    ["2001:200::1", null], // just past 2001::/23
    ["3fff:1000::1", null], // just past 3fff::/20
    // IPv6 spellings
    ["[::1]", "Loopback Address"],
    ["0:0:0:0:0:0:0:1", "Loopback Address"],
    ["fe80::1%eth0", "Link-Local Unicast"],
    // IPv6 forms carrying IPv4
    ["::ffff:127.0.0.1", "IPv4-mapped Address (::ffff:0:0/96, RFC 4291) of 127.0.0.1: Loopback"],
    ["::ffff:7f00:1", "of 127.0.0.1: Loopback"],
    ["[::ffff:7f00:1]", "Loopback"],
    ["0:0:0:0:0:ffff:7f00:1", "Loopback"],
    ["::ffff:a9fe:a9fe", "Link Local"],
    ["::ffff:93.184.215.14", null],
    ["::ffff:0.0.0.0", "This host on this network"],
    ["64:ff9b::127.0.0.1", "IPv4-IPv6 Translat. (64:ff9b::/96, RFC 6052) of 127.0.0.1: Loopback"],
    ["64:ff9b::808:808", null],
    ["2002:7f00:1::1", "6to4 (2002::/16, RFC 3056) of 127.0.0.1: Loopback"],
    ["2002:808:808::1", null],
    ["2001:0:4136:e378:8000:63bf:80ff:fffe", "TEREDO (2001::/32, RFC 4380, RFC 8190) of 127.0.0.1: Loopback"],
    ["2001:0:4136:e378:8000:63bf:f7f7:f7f7", null], // client 8.8.8.8
    ["::127.0.0.1", "IPv4-compatible (deprecated)"],
    ["::ffff:0:127.0.0.1", "IPv4-translated"],
    // Not an IP address: refused, fail closed
    ["localhost", "not an IP address"],
    ["example.com", "not an IP address"],
    ["", "not an IP address"],
    ["1.2.3.4.5", "not an IP address"],
    ["256.1.1.1", "not an IP address"],
    ["::ffff::1", "not an IP address"],
    ["1:2:3:4:5:6:7:8:9", "not an IP address"],
    ["12345::1", "not an IP address"],
    ["1.2.3.4::", "not an IP address"],
  ];

  it.each(rows)("%s → %s", (address, expected) => {
    const reason = isRefusedAddress(address);
    if (expected === null) expect(reason).toBeUndefined();
    else expect(reason).toContain(expected);
  });
});

describe("§6 parseIpv4Literal (WHATWG URL / inet_aton forms)", () => {
  // [host, dotted quad | null when it is not an IPv4 literal]
  const rows: Array<[string, string | null]> = [
    ["127.0.0.1", "127.0.0.1"],
    ["2130706433", "127.0.0.1"],
    ["0177.0.0.1", "127.0.0.1"],
    ["0x7f.1", "127.0.0.1"],
    ["0X7F.0.0.1", "127.0.0.1"],
    ["127.1", "127.0.0.1"],
    ["127.0.1", "127.0.0.1"],
    ["0x7f000001", "127.0.0.1"],
    ["017700000001", "127.0.0.1"],
    ["192.168.257", "192.168.1.1"],
    ["10.1", "10.0.0.1"],
    ["0x", "0.0.0.0"],
    ["00", "0.0.0.0"],
    ["1.2.3.4.", "1.2.3.4"],
    ["4294967295", "255.255.255.255"],
    ["4294967296", null],
    ["256.0.0.1", null],
    ["1.2.3.256", null],
    ["1.2.65536", null],
    ["1.2.3.4.5", null],
    ["08.0.0.1", null], // 8 is not an octal digit
    ["0x1g.0.0.1", null],
    ["1..2.3", null],
    [".1.2.3", null],
    ["1.2.3.4..", null],
    ["example.com", null],
    ["::1", null],
    ["", null],
    ["99999999999999999999999", null],
  ];

  it.each(rows)("%s → %s", (host, expected) => {
    expect(parseIpv4Literal(host) ?? null).toBe(expected);
  });

  // The same strings as the URL parser reads them: a URL host is already normalised.
  it.each(rows.filter(([, expected]) => expected !== null))("agrees with new URL(): %s", (host, expected) => {
    expect(new URL(`http://${host}/`).hostname).toBe(expected);
  });
});

describe("canonicalIp", () => {
  it.each([
    ["127.1", "127.0.0.1"],
    ["::1", "0:0:0:0:0:0:0:1"],
    ["[0:0::1]", "0:0:0:0:0:0:0:1"],
    ["::FFFF:127.0.0.1", "0:0:0:0:0:ffff:7f00:1"],
    ["example.com", undefined],
  ])("%s → %s", (ip, expected) => {
    expect(canonicalIp(ip)).toBe(expected);
  });
});
