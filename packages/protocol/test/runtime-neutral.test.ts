/**
 * The rules use no Node-only API (so they run in Deno, Bun, workers): where Node has
 * the function (`net.isIP`, `Buffer.byteLength`), the rule here must agree with it.
 */
import { Buffer } from "node:buffer";
import { isIP } from "node:net";
import { describe, expect, it } from "vitest";
import { utf8Length } from "../src/params.js";
import { isIpHost } from "../src/urls.js";

describe("isIpHost agrees with net.isIP (URL hostnames and raw text)", () => {
  it.each([
    "1.2.3.4",
    "255.255.255.255",
    "256.1.1.1",
    "01.2.3.4",
    "1.2.3",
    "1.2.3.4.5",
    "0.0.0.0",
    "127.0.0.1",
    "::",
    "::1",
    "[::1]",
    "fe80::1",
    "fe80::1%eth0",
    "fe80::1%",
    "2001:db8::1",
    "2001:db8:0:0:0:0:0:1",
    "2001:db8::1::2",
    "::ffff:1.2.3.4",
    "[::ffff:7f00:1]",
    "::ffff:256.2.3.4",
    "1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7:8:9",
    ":::",
    "g::1",
    "example.com",
    "localhost",
    "",
    "[]",
    "[example.com]",
    "::1 ",
    " ::1",
    "::\t1",
    "1.2.3.4 ",
  ])("%j", (host) => {
    const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
    expect(isIpHost(host)).toBe(isIP(bare) !== 0);
  });
});

describe("utf8Length agrees with Buffer.byteLength", () => {
  it.each(["", "abc", "é", "€", "😀", "a😀b", "\uD83D", "\uDE00", "\uDE00\uD83D", "x\uD83Dy", "\u07FF\u0800\uFFFF", "日本語".repeat(1000)])("%j", (text) => {
    expect(utf8Length(text)).toBe(Buffer.byteLength(text, "utf8"));
  });
});
