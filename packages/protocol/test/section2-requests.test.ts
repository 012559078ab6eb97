/**
 * PROTOCOL.md §2 "Requests and answers": form parsing and per-action parameters, as a
 * fixture table. Each row is a body and the answer §2 requires.
 */
import { describe, expect, it } from "vitest";
import { PmError } from "../src/errors.js";
import { encodeForm, isFormContentType, parseForm } from "../src/form.js";
import { isRfc3339, parseFederationRequest } from "../src/params.js";

const S = "https://alice.example.org/";
const R = "https://bob.example.com/";
const E = "https://pm.bob.example.net/";
const M = "https://pm.alice.example.uk/messages/1";
const prod = { dev: false };

function parse(body: string, policy = prod) {
  return parseFederationRequest(parseForm(body), policy);
}
function codeOf(body: string, policy = prod): string {
  try {
    parse(body, policy);
    return "ok";
  } catch (error) {
    if (error instanceof PmError) return error.code;
    throw error;
  }
}
const q = (o: Record<string, string | string[]>) => encodeForm(o).toString();
/** `base` with a path padded to exactly `length` characters (already canonical). */
const long = (base: string, length: number) => base + "a".repeat(length - base.length);

describe("§2 form bodies", () => {
  it("accepts the form content type with parameters, refuses others", () => {
    expect(isFormContentType("application/x-www-form-urlencoded")).toBe(true);
    expect(isFormContentType("Application/X-WWW-Form-Urlencoded; charset=UTF-8")).toBe(true);
    expect(isFormContentType("application/json")).toBe(false);
    expect(isFormContentType("multipart/form-data; boundary=x")).toBe(false);
    expect(isFormContentType(null)).toBe(false);
  });
  it("decodes + as space and percent-escapes as UTF-8", () => {
    const form = parseForm("a=h%C3%A9llo+world&b=1&b=2&c");
    expect(form.get("a")).toEqual(["héllo world"]);
    expect(form.get("b")).toEqual(["1", "2"]);
    expect(form.get("c")).toEqual([""]);
  });
  it.each([
    ["a malformed percent escape", "a=%zz"],
    ["a truncated percent escape", "a=%4"],
    ["percent-encoded invalid UTF-8", "a=%C3%28"],
    ["a lone surrogate encoding", "a=%ED%A0%80"],
  ])("refuses %s with invalid_request", (_, body) => {
    expect(() => parseForm(body)).toThrow(PmError);
  });
  it("refuses raw bytes that are not UTF-8", () => {
    expect(() => parseForm(Uint8Array.from([0x61, 0x3d, 0xff]))).toThrow(/UTF-8/);
  });
});

describe("§2 parameters (fixture table)", () => {
  const rows: [string, string, string][] = [
    // [case, body, expected code or "ok"]
    ["notify with all parameters", q({ action: "notify", sender: S, recipient: R, message: M }), "ok"],
    ["action missing", q({ sender: S, recipient: R, message: M }), "invalid_request"],
    ["action empty counts as missing", q({ action: "", sender: S, recipient: R, message: M }), "invalid_request"],
    ["action repeated", q({ action: ["notify", "notify"], sender: S, recipient: R, message: M }), "invalid_request"],
    ["unknown action", q({ action: "poke", sender: S, recipient: R }), "invalid_request"],
    ["sender missing", q({ action: "notify", recipient: R, message: M }), "invalid_request"],
    ["sender empty", q({ action: "notify", sender: "", recipient: R, message: M }), "invalid_request"],
    ["sender repeated", q({ action: "notify", sender: [S, S], recipient: R, message: M }), "invalid_request"],
    ["sender not a URL", q({ action: "notify", sender: "alice", recipient: R, message: M }), "invalid_request"],
    ["sender with a fragment", q({ action: "notify", sender: `${S}#me`, recipient: R, message: M }), "invalid_request"],
    ["sender with user info", q({ action: "notify", sender: "https://u:p@alice.example.org/", recipient: R, message: M }), "invalid_request"],
    ["http sender in production", q({ action: "notify", sender: "http://alice.example.org/", recipient: R, message: M }), "invalid_request"],
    ["IP sender in production", q({ action: "notify", sender: "https://192.0.2.1/", recipient: R, message: M }), "invalid_request"],
    ["ftp recipient", q({ action: "notify", sender: S, recipient: "ftp://bob.example.com/", message: M }), "invalid_request"],
    ["unknown parameters ignored, repeated or not", q({ action: "notify", sender: S, recipient: R, message: M, x: ["1", "2"] }), "ok"],
    ["other actions' parameters ignored, repeated", q({ action: "notify", sender: S, recipient: R, message: M, token: ["a", "b"] }), "ok"],
    ["message not absolute", q({ action: "notify", sender: S, recipient: R, message: "/messages/1" }), "invalid_request"],
    ["message with a fragment", q({ action: "notify", sender: S, recipient: R, message: `${M}#x` }), "invalid_request"],
    ["message non-ASCII", q({ action: "notify", sender: S, recipient: R, message: "urn:x:é" }), "invalid_request"],
    ["message of 512 characters", q({ action: "notify", sender: S, recipient: R, message: `urn:x:${"a".repeat(506)}` }), "ok"],
    ["message of 513 characters", q({ action: "notify", sender: S, recipient: R, message: `urn:x:${"a".repeat(507)}` }), "invalid_request"],
    ["urn:uuid message ID", q({ action: "notify", sender: S, recipient: R, message: "urn:uuid:4f0c6a3e-0e0f-4f39-9e43-3e2b5d1c0a11" }), "ok"],
    ["authorize", q({ action: "authorize", sender: S, recipient: R, code: "c".repeat(43) }), "ok"],
    ["authorize without code", q({ action: "authorize", sender: S, recipient: R }), "invalid_request"],
    ["verify with message", q({ action: "verify", sender: S, recipient: R, message: M }), "ok"],
    ["verify with code", q({ action: "verify", sender: S, recipient: R, code: "abc" }), "ok"],
    ["verify with both", q({ action: "verify", sender: S, recipient: R, message: M, code: "abc" }), "invalid_request"],
    ["verify with neither", q({ action: "verify", sender: S, recipient: R }), "invalid_request"],
    ["request", q({ action: "request", sender: S, recipient: R, message: M, endpoint: E, token: "t" }), "ok"],
    ["request without token", q({ action: "request", sender: S, recipient: R, message: M, endpoint: E }), "invalid_request"],
    ["request with a bad endpoint", q({ action: "request", sender: S, recipient: R, message: M, endpoint: "pm", token: "t" }), "invalid_request"],
    ["grant", q({ action: "grant", sender: S, recipient: R, code: "c", endpoint: E, token: "t", expires_in: "3600" }), "ok"],
    ["grant expires_in 59", q({ action: "grant", sender: S, recipient: R, code: "c", endpoint: E, token: "t", expires_in: "59" }), "invalid_request"],
    ["grant expires_in 60", q({ action: "grant", sender: S, recipient: R, code: "c", endpoint: E, token: "t", expires_in: "60" }), "ok"],
    ["grant expires_in 31536000", q({ action: "grant", sender: S, recipient: R, code: "c", endpoint: E, token: "t", expires_in: "31536000" }), "ok"],
    [
      "grant expires_in 31536001",
      q({ action: "grant", sender: S, recipient: R, code: "c", endpoint: E, token: "t", expires_in: "31536001" }),
      "invalid_request",
    ],
    [
      "grant expires_in not digits only",
      q({ action: "grant", sender: S, recipient: R, code: "c", endpoint: E, token: "t", expires_in: "+3600" }),
      "invalid_request",
    ],
    [
      "grant expires_in fractional",
      q({ action: "grant", sender: S, recipient: R, code: "c", endpoint: E, token: "t", expires_in: "3600.5" }),
      "invalid_request",
    ],
    ["deliver", q({ action: "deliver", sender: S, recipient: R, message: M, published: "2026-11-26T10:00:00Z", content: "hi" }), "ok"],
    [
      "deliver published lowercase t and z",
      q({ action: "deliver", sender: S, recipient: R, message: M, published: "2026-11-26t10:00:00.5z", content: "hi" }),
      "ok",
    ],
    [
      "deliver published with offset",
      q({ action: "deliver", sender: S, recipient: R, message: M, published: "2026-11-26T10:00:00+01:00", content: "hi" }),
      "ok",
    ],
    [
      "deliver published without offset",
      q({ action: "deliver", sender: S, recipient: R, message: M, published: "2026-11-26T10:00:00", content: "hi" }),
      "invalid_request",
    ],
    ["deliver published date only", q({ action: "deliver", sender: S, recipient: R, message: M, published: "2026-11-26", content: "hi" }), "invalid_request"],
    ["deliver without content", q({ action: "deliver", sender: S, recipient: R, message: M, published: "2026-11-26T10:00:00Z" }), "invalid_request"],
    [
      "deliver with content of 64 KiB",
      q({ action: "deliver", sender: S, recipient: R, message: M, published: "2026-11-26T10:00:00Z", content: "a".repeat(65536) }),
      "ok",
    ],
    [
      "deliver with content over 64 KiB",
      q({ action: "deliver", sender: S, recipient: R, message: M, published: "2026-11-26T10:00:00Z", content: "a".repeat(65537) }),
      "too_large",
    ],
    ["content size is checked before parameters", q({ action: "deliver", content: "é".repeat(40000) }), "too_large"],
    [
      "deliver with in-reply-to not a URI",
      q({ action: "deliver", sender: S, recipient: R, message: M, published: "2026-11-26T10:00:00Z", content: "x", "in-reply-to": "nope" }),
      "invalid_request",
    ],
    [
      "deliver with name repeated",
      q({ action: "deliver", sender: S, recipient: R, message: M, published: "2026-11-26T10:00:00Z", content: "x", name: ["a", "b"] }),
      "invalid_request",
    ],
    [
      "deliver with repeated to",
      q({ action: "deliver", sender: S, recipient: R, message: M, published: "2026-11-26T10:00:00Z", content: "x", to: [R, S, R] }),
      "ok",
    ],
    [
      "deliver with a bad to",
      q({ action: "deliver", sender: S, recipient: R, message: M, published: "2026-11-26T10:00:00Z", content: "x", to: [R, "nope"] }),
      "invalid_request",
    ],
    // §5: `to` names `recipient` among the recipients shown
    [
      "deliver with to without recipient",
      q({ action: "deliver", sender: S, recipient: R, message: M, published: "2026-11-26T10:00:00Z", content: "x", to: [S, "https://carol.example.net/"] }),
      "invalid_request",
    ],
    [
      "deliver with to naming recipient in another spelling",
      q({ action: "deliver", sender: S, recipient: R, message: M, published: "2026-11-26T10:00:00Z", content: "x", to: [S, "https://BOB.example.com"] }),
      "ok",
    ],
    // §2 Formats: site and endpoint URLs of at most 2,048 characters, in every URL parameter
    ["sender of 2,048 characters", q({ action: "notify", sender: long(S, 2048), recipient: R, message: M }), "ok"],
    ["sender of 2,049 characters", q({ action: "notify", sender: long(S, 2049), recipient: R, message: M }), "invalid_request"],
    ["sender of 240 KB", q({ action: "notify", sender: long(S, 240_000), recipient: R, message: M }), "invalid_request"],
    ["recipient of 2,049 characters", q({ action: "notify", sender: S, recipient: long(R, 2049), message: M }), "invalid_request"],
    ["vouch of 2,049 characters", q({ action: "notify", sender: S, recipient: R, message: M, vouch: long(S, 2049) }), "invalid_request"],
    ["authorize vouch of 2,049 characters", q({ action: "authorize", sender: S, recipient: R, code: "c".repeat(43), vouch: long(S, 2049) }), "invalid_request"],
    ["endpoint of 2,048 characters", q({ action: "request", sender: S, recipient: R, message: M, endpoint: long(E, 2048), token: "t" }), "ok"],
    [
      "request endpoint of 2,049 characters",
      q({ action: "request", sender: S, recipient: R, message: M, endpoint: long(E, 2049), token: "t" }),
      "invalid_request",
    ],
    [
      "grant endpoint of 2,049 characters",
      q({ action: "grant", sender: S, recipient: R, code: "c", endpoint: long(E, 2049), token: "t", expires_in: "3600" }),
      "invalid_request",
    ],
    [
      "to of 2,049 characters",
      q({ action: "deliver", sender: S, recipient: R, message: M, published: "2026-11-26T10:00:00Z", content: "x", to: [R, long(S, 2049)] }),
      "invalid_request",
    ],
    // Canonical form counts too: 700 "é" are 1,400 characters as sent, 4,200 once percent-encoded.
    [
      "sender of 2,048 characters or fewer that canonicalizes longer",
      q({ action: "notify", sender: S + "é".repeat(700), recipient: R, message: M }),
      "invalid_request",
    ],
  ];
  it.each(rows)("%s", (_, body, expected) => {
    expect(codeOf(body)).toBe(expected);
  });

  it("canonicalizes site URLs (WHATWG serialization)", () => {
    const req = parse(q({ action: "notify", sender: "https://Alice.Example.org", recipient: R, message: M }));
    expect(req.sender).toBe("https://alice.example.org/");
  });
  it("keeps a query in a site URL: it matters in comparisons", () => {
    const req = parse(q({ action: "notify", sender: "https://alice.example.org/?u=1", recipient: R, message: M }));
    expect(req.sender).toBe("https://alice.example.org/?u=1");
  });
  it("ignores duplicates in to and keeps them canonical", () => {
    const req = parse(
      q({ action: "deliver", sender: S, recipient: R, message: M, published: "2026-11-26T10:00:00Z", content: "x", to: [R, "https://bob.example.com", S] }),
    );
    expect(req).toMatchObject({ to: [R, S] });
  });
  it("development mode accepts http and loopback addresses", () => {
    expect(codeOf(q({ action: "notify", sender: "http://127.0.0.1:4001/", recipient: "http://localhost:4003/", message: M }), { dev: true })).toBe("ok");
  });
});

describe("§2 Formats: RFC 3339 date-times", () => {
  it.each(["2026-02-28T23:59:60Z", "2024-02-29T00:00:00+14:00", "2026-11-26T10:00:00.123456-05:30"])("accepts %s", (v) => expect(isRfc3339(v)).toBe(true));
  it.each(["2026-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-11-26 10:00:00Z", "2026-11-26T24:00:00Z", "2026-11-26T10:00:00+25:00", "26-11-26T10:00:00Z"])(
    "refuses %s",
    (v) => expect(isRfc3339(v)).toBe(false),
  );
});
