/** PROTOCOL.md §6 "Outgoing requests": address classification. One row per case. */
import { describe, expect, it } from "vitest";
import { canonicalIp, isRefusedAddress, parseIpv4Literal } from "../src/http/addresses.js";

describe("§6 isRefusedAddress", () => {
  // [address, expected reason fragment | null when the address is public]
  const rows: Array<[string, string | null]> = [
    // IPv4: public
    ["93.184.215.14", null],
    ["8.8.8.8", null],
    ["1.1.1.1", null],
    ["172.15.255.255", null],
    ["172.32.0.0", null],
    ["100.63.255.255", null],
    ["100.128.0.0", null],
    ["169.253.255.255", null],
    ["223.255.255.255", null],
    ["11.0.0.0", null],
    // IPv4: refused
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["10.0.0.1", "private (10.0.0.0/8)"],
    ["10.255.255.255", "private"],
    ["172.16.0.1", "private (172.16.0.0/12)"],
    ["172.31.255.255", "private (172.16.0.0/12)"],
    ["192.168.1.1", "private (192.168.0.0/16)"],
    ["169.254.169.254", "link-local"],
    ["100.64.0.1", "CGNAT"],
    ["100.127.255.255", "CGNAT"],
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["240.0.0.1", "reserved"],
    ["192.0.2.1", "documentation"],
    ["198.18.0.1", "benchmarking"],
    // IPv4 in other notations (inet_aton / WHATWG URL)
    ["2130706433", "loopback"],
    ["0177.0.0.1", "loopback"],
    ["0x7f.1", "loopback"],
    ["0x7f000001", "loopback"],
    ["127.1", "loopback"],
    ["127.0.1", "loopback"],
    ["017700000001", "loopback"],
    ["0xa.0.0.1", "private"],
    ["167772161", "private"], // 10.0.0.1
    ["0", "unspecified"],
    ["127.0.0.1.", "loopback"],
    ["1572395042", null], // 93.184.215.34
    // IPv6: public
    ["2606:2800:220:1:248:1893:25c8:1946", null],
    ["2001:4860:4860::8888", null],
    ["[2a00:1450:4001:82b::200e]", null],
    // IPv6: refused
    ["::1", "loopback"],
    ["[::1]", "loopback"],
    ["0:0:0:0:0:0:0:1", "loopback"],
    ["::", "unspecified"],
    ["fe80::1", "link-local"],
    ["fe80::1%eth0", "link-local"],
    ["febf:ffff::1", "link-local"],
    ["fc00::1", "unique-local"],
    ["fd12:3456:789a::1", "unique-local"],
    ["ff02::1", "multicast"],
    ["ff05::1:3", "multicast"],
    ["fec0::1", "site-local"],
    ["2001:db8::1", "documentation"],
    ["100::1", "discard-only"],
    ["64:ff9b:1::1", "local-use NAT64"],
    // IPv6 forms carrying IPv4
    ["::ffff:127.0.0.1", "IPv4-mapped (::ffff:0:0/96) form of 127.0.0.1: loopback"],
    ["::ffff:7f00:1", "IPv4-mapped (::ffff:0:0/96) form of 127.0.0.1: loopback"],
    ["[::ffff:7f00:1]", "loopback"],
    ["0:0:0:0:0:ffff:7f00:1", "loopback"],
    ["::ffff:10.0.0.1", "private"],
    ["::ffff:a9fe:a9fe", "link-local"],
    ["::ffff:93.184.215.14", null],
    ["::ffff:0:127.0.0.1", "IPv4-translated"],
    ["::127.0.0.1", "IPv4-compatible"],
    ["::7f00:1", "IPv4-compatible"],
    ["::8.8.8.8", null],
    ["64:ff9b::127.0.0.1", "NAT64"],
    ["64:ff9b::a00:1", "NAT64 (64:ff9b::/96) form of 10.0.0.1: private"],
    ["64:ff9b::808:808", null],
    ["2002:7f00:1::1", "6to4 (2002::/16) form of 127.0.0.1: loopback"],
    ["2002:c0a8:101::", "6to4 (2002::/16) form of 192.168.1.1: private"],
    ["2002:808:808::1", null],
    ["2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo (2001::/32) form of 127.0.0.1: loopback"],
    ["2001:0:4136:e378:8000:63bf:f7f7:f7f7", null], // client 8.8.8.8
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
