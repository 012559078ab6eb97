/**
 * fast-check arbitraries for federation requests that are structured but wrong
 * (PROTOCOL.md §2–§5). Three kinds, mixed:
 *
 * - `spoil-one`: a request that would pass every check — coherent sites, IDs and
 *   secrets taken from the `FuzzWorld` — with exactly one thing spoiled (a parameter
 *   missing, empty, repeated, of the wrong type, huge, unicode, with control characters
 *   or bad percent-encoding, the action or the bearer token wrong), or nothing spoiled.
 *   These reach deep: past the form check to the token, the site, the policy, the store.
 * - `chaos`: every parameter independently valid or spoiled, unknown parameters,
 *   other encodings, mangled bodies (truncated, bytes inserted, other separators) and
 *   content types (JSON, multipart, none).
 * - `bytes`: random bytes, or a form head followed by random bytes.
 *
 * A request is data (`FuzzRequest`) until `encodeRequest` turns it into bytes, so
 * fast-check can shrink it and print it.
 */
import fc from "fast-check";
import { ACTIONS, type Action } from "./answers.js";

/** What the generators draw valid values from: all of it loopback, or sites the target does not hold. */
export interface FuzzWorld {
  /** Coherent, valid starting points per action (sites, IDs, secrets; `token` of a deliver goes into `Authorization`). */
  bases: Record<Action, Array<Record<string, string>>>;
  /** Site URLs for sender, recipient, vouch, to. */
  sites: string[];
  endpoints: string[];
  /** Message IDs worth naming (held, pending, delivered). */
  messages: string[];
}

/** One parameter value: its text, and what is appended verbatim after it is encoded (bad percent-encodings). */
export interface Value {
  text: string;
  raw?: string;
}

export type Encoding = "standard" | "percent" | "utf8" | "raw";

export type BodyMutation =
  | { kind: "none" }
  | { kind: "truncate"; at: number }
  | { kind: "insert"; at: number; bytes: number[] }
  | { kind: "bom" }
  | { kind: "separator"; separator: string }
  | { kind: "name-only" };

export interface FuzzRequest {
  mode: "spoil-one" | "chaos" | "bytes";
  /** What was spoiled, for the counts and for a failing example. */
  note: string;
  pairs: Array<{ name: string; value: Value }>;
  encoding: Encoding;
  mutation: BodyMutation;
  contentType: string | undefined;
  headers: Record<string, string>;
  /** `bytes` mode: the body itself. */
  bytes?: number[];
}

/** A request as it goes on the wire. */
export interface WireRequest {
  contentType: string | undefined;
  headers: Record<string, string>;
  body: Uint8Array<ArrayBuffer>;
  note: string;
}

const REQUIRED: Record<Action, string[]> = {
  notify: ["sender", "recipient", "message"],
  authorize: ["sender", "recipient", "code"],
  verify: ["sender", "recipient"],
  request: ["sender", "recipient", "message", "endpoint", "token"],
  grant: ["sender", "recipient", "code", "endpoint", "token", "expires_in"],
  deliver: ["sender", "recipient", "message", "published", "content"],
};
const OPTIONAL: Record<Action, string[]> = {
  notify: ["vouch"],
  authorize: ["vouch"],
  verify: [],
  request: [],
  grant: [],
  deliver: ["content-html", "name", "in-reply-to"],
};
const ALL_NAMES = [...new Set([...Object.values(REQUIRED).flat(), ...Object.values(OPTIONAL).flat(), "to", "message", "code"])];

// ---------------------------------------------------------------------------
// Valid values
// ---------------------------------------------------------------------------

const secretArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString("base64url"));

const publishedArb = fc
  .record({
    ms: fc.integer({ min: 0, max: 4_102_444_800_000 }),
    offset: fc.constantFrom("Z", "z", "+00:00", "-05:30", "+14:00"),
    lowerT: fc.boolean(),
    fraction: fc.boolean(),
  })
  .map(({ ms, offset, lowerT, fraction }) => {
    const iso = new Date(ms).toISOString();
    const base = fraction ? iso.slice(0, -1) : iso.slice(0, 19);
    return (lowerT ? base.replace("T", "t") : base) + offset;
  });

/** Text that trips form decoders: `%` next to raw non-ASCII, astral characters, `+`, `&`, `=`. */
const TRICKY_TEXT = ["%41\u{1D11E}", "a+b&c=d%", "\u{1F600}%20\u{1F600}", "é%C3%A9", "100% sure", "x=1&y=2", "\u{10FFFF}", "\uFFFD", "line\r\nbreak"];

const textArb = fc.oneof(
  { weight: 3, arbitrary: fc.string({ minLength: 1, maxLength: 200 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 80 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 80 }) },
  { weight: 2, arbitrary: fc.constantFrom(...TRICKY_TEXT) },
);

/** HTML a sanitizer must survive (§6 Content): XSS payloads, tag soup, and shapes that are slow to parse. */
const XSS = [
  "<script>alert(1)</script><p>hi</p>",
  '<img src=x onerror="alert(1)">',
  '<a href="javascript:alert(1)">x</a>',
  '<a href="  JaVaScRiPt:alert(1)">x</a>',
  "<svg><g/onload=alert(2)//<p>",
  '<math><mi//xlink:href="data:x,<script>alert(4)</script>">',
  '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
  "<style>*{background:url(https://tracker.example/)}</style>",
  '<iframe src="https://evil.example/"></iframe>',
  "<form action=https://evil.example/><input name=x></form>",
  '<p style="position:fixed" class=x id=y onclick=alert(1)>styled</p>',
  '<a href="https://ok.example/" target=_blank>ok</a>',
  "<!--<img src=x onerror=alert(1)>-->",
  "<![CDATA[<script>alert(1)</script>]]>",
  "&lt;script&gt;alert(1)&lt;/script&gt;",
  '<table><td><a href="data:text/html,<script>alert(1)</script>">t</a></td></table>',
];
const SOUP = [
  "<p>",
  "</p>",
  "<b>",
  "</b>",
  "<i>",
  "<div>",
  "</div>",
  "<table>",
  "<td>",
  "<li>",
  "<a href=https://x.example/>",
  "</a>",
  "<br>",
  "<img src=x>",
  "<script>",
  "</script>",
  "<!--",
  "-->",
  "&amp;",
  "&#x3C;",
  "<x-y>",
  "\u0000",
];
const htmlArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...XSS) },
  { weight: 4, arbitrary: fc.array(fc.oneof(fc.constantFrom(...SOUP), fc.string({ maxLength: 8 })), { maxLength: 40 }).map((parts) => parts.join("")) },
  // Shapes whose cost grows faster than their size in a DOM-based sanitizer: many siblings
  // to unwrap, deep nesting, unclosed formatting elements.
  {
    weight: 1,
    arbitrary: fc
      .record({
        unit: fc.constantFrom("<div>x</div>", "<div>", "<span>", "<b>x</b><i>", "<x-a>x</x-a>", "<p>x</p>", "<td>x"),
        count: fc.integer({ min: 1, max: 40_000 }),
      })
      .map(({ unit, count }) => unit.repeat(count)),
  },
);

function validValue(name: string, w: FuzzWorld): fc.Arbitrary<string> {
  switch (name) {
    case "sender":
    case "recipient":
    case "vouch":
    case "to":
      return fc.constantFrom(...w.sites);
    case "message":
    case "in-reply-to":
      return fc.oneof(
        fc.constantFrom(...w.messages),
        fc.uuid().map((u) => `urn:uuid:${u}`),
      );
    case "code":
    case "token":
      return secretArb;
    case "endpoint":
      return fc.constantFrom(...w.endpoints);
    case "expires_in":
      return fc.integer({ min: 60, max: 31_536_000 }).map(String);
    case "published":
      return publishedArb;
    case "content":
      return textArb;
    case "content-html":
      return htmlArb;
    case "name":
      return fc.string({ maxLength: 60 });
    default:
      return fc.string({ maxLength: 20 });
  }
}

// ---------------------------------------------------------------------------
// Spoils
// ---------------------------------------------------------------------------

const WRONG_TYPES = [
  "0",
  "1",
  "-1",
  "true",
  "false",
  "null",
  "undefined",
  "[]",
  "{}",
  "[object Object]",
  "NaN",
  "Infinity",
  "-0",
  "1e309",
  "0x3c",
  "3.5",
  "1,2",
  "６０",
  "٦٠",
  "60 ",
  "+60",
  "060",
  "  ",
  '"quoted"',
  "<script>alert(1)</script>",
  "' OR 1=1 --",
  '{"$gt":""}',
  "$where",
  "__proto__",
  "constructor",
  "a.b",
];
const UNICODE = [
  "\u202Ehttp://127.0.0.1/",
  "ｈｔｔｐ://127.0.0.1/",
  "http://127.0.0.1。/",
  "\uFEFF",
  "\u200D",
  "\uD800",
  "\uDFFF",
  "\u{1D11E}",
  "🏳️‍🌈",
  "e\u0301",
  "ß",
  "İ",
  "\u{E0001}",
  "\u0600",
];
const CONTROLS = ["\u0000", "\r\n", "\n", "\t", "\b", "\u007f", "\u0085", "\u2028", "\u001b[31m", "\r"];
/** Verbatim after a value: invalid percent-encodings, invalid UTF-8 behind valid ones, and a few valid ones. */
const RAW_SUFFIXES = [
  "%",
  "%Z",
  "%ZZ",
  "%G0",
  "%0",
  "%C3",
  "%C3%28",
  "%E2%82",
  "%ED%A0%80",
  "%C0%AF",
  "%F8%88%80%80%80",
  "%FF",
  "%FE%FF",
  "%00",
  "%%",
  "%25%",
  "%E2%80%AE",
  "%2",
];
const SCHEMES = ["ftp:", "javascript:", "HTTP:", "data:", "file:", "urn:", "ws:", "https:"];
const HOSTS = [
  "localhost",
  "2130706433",
  "0x7f.1",
  "0177.0.0.1",
  "[::1]",
  "[::ffff:127.0.0.1]",
  "127.1",
  "0.0.0.0",
  "example.invalid",
  "xn--80ak6aa92e.example",
];
const PATHS = ["x/", "../", "?", "?q=1", "%2e%2e/", ";", "//", "/%00", ":0/", "\\"];

export type Spoil =
  | { kind: "missing" }
  | { kind: "empty" }
  | { kind: "repeat"; other: string | null }
  | { kind: "replace"; text: string }
  | { kind: "affix"; text: string; where: "before" | "after" | "middle" }
  | { kind: "huge"; unit: string; count: number }
  | { kind: "raw"; raw: string }
  | { kind: "mutate"; how: "fragment" | "upper" | "half" | "userinfo" | "double-encode" | "pad" }
  | { kind: "scheme" | "host" | "path"; text: string };

export const spoilArb: fc.Arbitrary<Spoil> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<Spoil>({ kind: "missing" }) },
  { weight: 2, arbitrary: fc.constant<Spoil>({ kind: "empty" }) },
  { weight: 2, arbitrary: fc.option(fc.string({ maxLength: 20 }), { nil: null }).map((other): Spoil => ({ kind: "repeat", other })) },
  { weight: 3, arbitrary: fc.constantFrom(...WRONG_TYPES).map((text): Spoil => ({ kind: "replace", text })) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 30 }).map((text): Spoil => ({ kind: "replace", text })) },
  {
    weight: 2,
    arbitrary: fc
      .record({ text: fc.constantFrom(...UNICODE, ...CONTROLS), where: fc.constantFrom("before", "after", "middle") })
      .map((a): Spoil => ({ kind: "affix", ...a })),
  },
  { weight: 2, arbitrary: fc.constantFrom(...CONTROLS).map((text): Spoil => ({ kind: "replace", text })) },
  {
    weight: 1,
    arbitrary: fc
      .record({
        unit: fc.constantFrom("a", "é", "\u{1D11E}", "%", "&", "=", "+", " ", "<div>", "%41"),
        count: fc.oneof(
          { weight: 3, arbitrary: fc.integer({ min: 513, max: 4_096 }) },
          { weight: 2, arbitrary: fc.integer({ min: 60_000, max: 70_000 }) },
          { weight: 1, arbitrary: fc.integer({ min: 200_000, max: 280_000 }) },
        ),
      })
      .map((h): Spoil => ({ kind: "huge", ...h })),
  },
  { weight: 3, arbitrary: fc.constantFrom(...RAW_SUFFIXES).map((raw): Spoil => ({ kind: "raw", raw })) },
  {
    weight: 3,
    arbitrary: fc
      .constantFrom("fragment", "upper", "half", "userinfo", "double-encode", "pad")
      .map((how): Spoil => ({ kind: "mutate", how: how as "fragment" })),
  },
  { weight: 1, arbitrary: fc.constantFrom(...SCHEMES).map((text): Spoil => ({ kind: "scheme", text })) },
  { weight: 2, arbitrary: fc.constantFrom(...HOSTS).map((text): Spoil => ({ kind: "host", text })) },
  { weight: 1, arbitrary: fc.constantFrom(...PATHS).map((text): Spoil => ({ kind: "path", text })) },
);

/** The values a spoiled parameter is sent with: none (missing), one, or several (repeated). */
export function applySpoil(spoil: Spoil, v: string): Value[] {
  switch (spoil.kind) {
    case "missing":
      return [];
    case "empty":
      return [{ text: "" }];
    case "repeat":
      return [{ text: v }, { text: spoil.other ?? v }];
    case "replace":
      return [{ text: spoil.text }];
    case "affix": {
      const mid = Math.floor(v.length / 2);
      const text = spoil.where === "before" ? spoil.text + v : spoil.where === "after" ? v + spoil.text : v.slice(0, mid) + spoil.text + v.slice(mid);
      return [{ text }];
    }
    case "huge":
      // `count` characters in all, whatever the unit's length.
      return [{ text: v + spoil.unit.repeat(Math.ceil(spoil.count / spoil.unit.length)).slice(0, spoil.count) }];
    case "raw":
      return [{ text: v, raw: spoil.raw }];
    case "mutate":
      switch (spoil.how) {
        case "fragment":
          return [{ text: `${v}#x` }];
        case "upper":
          return [{ text: v.toUpperCase() }];
        case "half":
          return [{ text: v.slice(0, Math.floor(v.length / 2)) }];
        case "userinfo":
          return [{ text: v.replace("//", "//user:pw@") }];
        case "double-encode":
          return [{ text: encodeURIComponent(v) }];
        case "pad":
          return [{ text: ` ${v} ` }];
      }
      break;
    case "scheme":
      return [{ text: /^[a-z][a-z0-9+.-]*:/i.test(v) ? v.replace(/^[a-z][a-z0-9+.-]*:/i, spoil.text) : spoil.text + v }];
    case "host":
      return [{ text: v.includes("127.0.0.1") ? v.replace("127.0.0.1", spoil.text) : `http://${spoil.text}/${v}` }];
    case "path":
      return [{ text: v + spoil.text }];
  }
  return [{ text: v }];
}

function describeSpoil(s: Spoil): string {
  switch (s.kind) {
    case "huge":
      return `huge(${JSON.stringify(s.unit)}×${s.count})`;
    case "replace":
    case "affix":
    case "scheme":
    case "host":
    case "path":
      return `${s.kind}(${JSON.stringify(s.text).slice(0, 40)})`;
    case "raw":
      return `raw(${s.raw})`;
    case "mutate":
      return `mutate(${s.how})`;
    default:
      return s.kind;
  }
}

// ---------------------------------------------------------------------------
// Content types, headers, bodies
// ---------------------------------------------------------------------------

const FORM = "application/x-www-form-urlencoded";
const FORM_TYPES = [FORM, `${FORM}; charset=UTF-8`, FORM.toUpperCase(), `${FORM};charset=latin1`, `${FORM} ; q=1`, `${FORM}; boundary=x`];
const OTHER_TYPES = [
  undefined,
  "application/json",
  "multipart/form-data; boundary=fuzzboundary",
  "text/plain",
  "",
  `${FORM}x`,
  `${FORM}-but-not`,
  "text/html",
  "*/*",
  "application/x-www-form",
  "form",
  `;${FORM}`,
  "application/octet-stream",
  `text/plain; x=${FORM}`,
];

const formTypeArb = fc.oneof({ weight: 12, arbitrary: fc.constant(FORM) }, { weight: 3, arbitrary: fc.constantFrom(...FORM_TYPES) });
const anyTypeArb = fc.oneof({ weight: 7, arbitrary: formTypeArb }, { weight: 3, arbitrary: fc.constantFrom(...OTHER_TYPES) });

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 });

/** A bearer header that is wrong in one way (the token `t` is the one that would pass). */
const authSpoilArb = fc.constantFrom<(t: string) => string | undefined>(
  () => undefined,
  () => "Bearer",
  () => "Bearer ",
  (t: string) => `Bearer ${t}x`,
  (t: string) => `Bearer ${t.slice(1)}`,
  (t: string) => `Basic ${Buffer.from(`x:${t}`).toString("base64")}`,
  (t: string) => `Token ${t}`,
  (t: string) => `Bearer ${t}, Bearer ${t}`,
  () => `Bearer ${"A".repeat(8_000)}`,
  (t: string) => `Bearer ${t.toUpperCase()}`,
);

const extraHeadersArb = fc.dictionary(
  fc.constantFrom("x-forwarded-for", "content-encoding", "accept", "cookie", "x-http-method-override", "authorization", "origin", "content-language"),
  fc.oneof(printable, fc.constantFrom("gzip", "127.0.0.1", "1.2.3.4, 10.0.0.1", "DELETE", "Bearer x", "*")),
  { maxKeys: 2 },
);

const mutationArb: fc.Arbitrary<BodyMutation> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<BodyMutation>({ kind: "none" }) },
  { weight: 2, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }).map((at): BodyMutation => ({ kind: "truncate", at })) },
  {
    weight: 2,
    arbitrary: fc
      .record({ at: fc.double({ min: 0, max: 1, noNaN: true }), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }) })
      .map((m): BodyMutation => ({ kind: "insert", ...m })),
  },
  { weight: 1, arbitrary: fc.constant<BodyMutation>({ kind: "bom" }) },
  { weight: 1, arbitrary: fc.constantFrom(";", "&&", "\n", "&amp;", "&=&").map((separator): BodyMutation => ({ kind: "separator", separator })) },
  { weight: 1, arbitrary: fc.constant<BodyMutation>({ kind: "name-only" }) },
);

const extraPairArb = fc.record({
  name: fc.oneof(
    fc.constantFrom(...ALL_NAMES, "action[]", "sender[]", "Sender", " sender", "sender ", "ACTION", "to[]", "__proto__", "constructor", "", "="),
    fc.string({ maxLength: 12 }),
  ),
  value: fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom(...WRONG_TYPES)),
});

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

function paramNames(action: Action, base: Record<string, string>): string[] {
  const names = [...REQUIRED[action]];
  if (action === "verify") names.push(base.code !== undefined ? "code" : "message");
  return names;
}

/** A request that would pass, with one thing spoiled (or none). */
function spoilOneArb(w: FuzzWorld): fc.Arbitrary<FuzzRequest> {
  return fc.constantFrom(...ACTIONS).chain((action) =>
    fc
      .record({
        base: fc.constantFrom(...w.bases[action]),
        fill: fc.record(
          Object.fromEntries([...new Set([...REQUIRED[action], ...OPTIONAL[action], "message", "code", "token"])].map((n) => [n, validValue(n, w)])),
        ),
        optional: fc.subarray(OPTIONAL[action]),
        to: fc.array(validValue("to", w), { maxLength: 3 }),
        target: fc.oneof(
          { weight: 1, arbitrary: fc.constant("none") },
          { weight: 1, arbitrary: fc.constant("action") },
          { weight: 6, arbitrary: fc.constantFrom(...REQUIRED[action], ...OPTIONAL[action], action === "deliver" ? "authorization" : "extra") },
        ),
        spoil: spoilArb,
        auth: authSpoilArb,
        encoding: fc.constantFrom<Encoding>("standard", "standard", "percent", "utf8"),
        contentType: formTypeArb,
        extras: fc.array(extraPairArb, { maxLength: 2 }),
        junkAction: fc.constantFrom("NOTIFY", "subscribe", "notify ", " notify", "notify\u0000", "deliver;", "webmention", "verify,grant", "ｎotify"),
      })
      .map(({ base, fill, optional, to, target, spoil, auth, encoding, contentType, extras, junkAction }): FuzzRequest => {
        const values: Record<string, string> = { ...fill, ...base };
        const names = [...paramNames(action, base), ...OPTIONAL[action].filter((n) => optional.includes(n) || target === n)];
        const pairs: FuzzRequest["pairs"] = [];
        let note = `${action}: ${target === "none" ? "nothing spoiled" : `${target} ${describeSpoil(spoil)}`}`;
        // The action is spoiled like any other parameter, or replaced by one that is not an action.
        if (target === "action") {
          const actionValues = spoil.kind === "replace" ? [{ text: junkAction }] : applySpoil(spoil, action);
          if (spoil.kind === "replace") note = `${action}: action ${JSON.stringify(junkAction)}`;
          for (const value of actionValues) pairs.push({ name: "action", value });
        } else {
          pairs.push({ name: "action", value: { text: action } });
        }
        for (const name of names) {
          const valuesOf = target === name ? applySpoil(spoil, values[name]!) : [{ text: values[name]! }];
          for (const value of valuesOf) pairs.push({ name, value });
        }
        if (action === "deliver" && to.length > 0) {
          for (const site of [...to, values.recipient!]) pairs.push({ name: "to", value: { text: site } });
        }
        if (target === "extra") for (const e of extras) pairs.push({ name: e.name, value: { text: e.value } });
        const headers: Record<string, string> = {};
        if (action === "deliver") {
          const token = base.token ?? fill.token!;
          const header = target === "authorization" ? auth(token) : `Bearer ${token}`;
          if (header !== undefined) headers.authorization = header;
        }
        return { mode: "spoil-one", note, pairs, encoding, mutation: { kind: "none" }, contentType, headers };
      }),
  );
}

/** Every parameter valid or spoiled, on its own; any encoding, body mangling and content type. */
function chaosArb(w: FuzzWorld): fc.Arbitrary<FuzzRequest> {
  const paramArb = (name: string) =>
    fc
      .record({ value: validValue(name, w), spoil: fc.option(spoilArb, { freq: 2 }) })
      .map(({ value, spoil }) => (spoil ? applySpoil(spoil, value) : [{ text: value }]));
  return fc
    .record({
      action: fc.oneof(
        fc.constantFrom<string | undefined>(...ACTIONS),
        fc.constantFrom(undefined, "", "NOTIFY", "deliver\u0000"),
        fc.string({ maxLength: 10 }),
      ),
      params: fc.record(Object.fromEntries(ALL_NAMES.map((n) => [n, paramArb(n)])), { requiredKeys: [] }),
      extras: fc.array(extraPairArb, { maxLength: 4 }),
      encoding: fc.constantFrom<Encoding>("standard", "percent", "utf8", "raw"),
      mutation: mutationArb,
      contentType: anyTypeArb,
      authorization: fc.option(
        fc.oneof(
          printable.map((t) => `Bearer ${t}`),
          printable,
        ),
        { freq: 2 },
      ),
      headers: extraHeadersArb,
    })
    .map(({ action, params, extras, encoding, mutation, contentType, authorization, headers }): FuzzRequest => {
      const pairs: FuzzRequest["pairs"] = [];
      if (action !== undefined) pairs.push({ name: "action", value: { text: action } });
      for (const [name, values] of Object.entries(params)) for (const value of values as Value[]) pairs.push({ name, value });
      for (const e of extras) pairs.push({ name: e.name, value: { text: e.value } });
      const all = { ...headers, ...(authorization !== null ? { authorization } : {}) };
      return { mode: "chaos", note: `chaos ${JSON.stringify(action)} ${encoding} ${mutation.kind}`, pairs, encoding, mutation, contentType, headers: all };
    });
}

/** Random bytes, alone or behind a form head. */
const bytesArb: fc.Arbitrary<FuzzRequest> = fc
  .record({
    head: fc.constantFrom("", "action=notify&sender=", "action=deliver&content=", "action=", "%"),
    bytes: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 2_048 }),
    contentType: anyTypeArb,
  })
  .map(
    ({ head, bytes, contentType }): FuzzRequest => ({
      mode: "bytes",
      note: `bytes after ${JSON.stringify(head)}`,
      pairs: [],
      encoding: "raw",
      mutation: { kind: "none" },
      contentType,
      headers: {},
      bytes: [...Buffer.from(head), ...bytes],
    }),
  );

/** The fuzzer's mix: mostly one-thing-wrong requests that reach deep, then chaos, then bytes. */
export function requestArb(w: FuzzWorld): fc.Arbitrary<FuzzRequest> {
  return fc.oneof({ weight: 6, arbitrary: spoilOneArb(w) }, { weight: 3, arbitrary: chaosArb(w) }, { weight: 1, arbitrary: bytesArb });
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

function encodeText(text: string, encoding: Encoding): string {
  switch (encoding) {
    case "standard":
      return new URLSearchParams([["", text]]).toString().slice(1);
    case "percent":
      return encodeURIComponent(text.replace(/[\uD800-\uDFFF]/g, (c, i: number, s: string) => (isPaired(s, i) ? c : "\uFFFD")));
    case "utf8":
      // ASCII percent-encoded, everything else as raw UTF-8: a legal form body many clients send.
      return text.replace(/[\x00-\x7f]+/g, (run) => encodeURIComponent(run).replaceAll("%20", "+"));
    case "raw":
      return text;
  }
}

function isPaired(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff) return i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff;
  return i > 0 && s.charCodeAt(i - 1) >= 0xd800 && s.charCodeAt(i - 1) <= 0xdbff;
}

function multipart(pairs: FuzzRequest["pairs"]): string {
  const parts = pairs.map((p) => `--fuzzboundary\r\nContent-Disposition: form-data; name="${p.name.replace(/"/g, "%22")}"\r\n\r\n${p.value.text}\r\n`);
  return `${parts.join("")}--fuzzboundary--\r\n`;
}

/** The bytes and headers of a request. */
export function encodeRequest(r: FuzzRequest): WireRequest {
  let body: Uint8Array<ArrayBuffer>;
  if (r.bytes) {
    body = new Uint8Array(r.bytes);
  } else if (/json/i.test(r.contentType ?? "")) {
    body = new TextEncoder().encode(JSON.stringify(Object.fromEntries(r.pairs.map((p) => [p.name, p.value.text]))));
  } else if (/multipart/i.test(r.contentType ?? "")) {
    body = new TextEncoder().encode(multipart(r.pairs));
  } else {
    const separator = r.mutation.kind === "separator" ? r.mutation.separator : "&";
    const text = r.pairs
      .map((p, i) => {
        const name = encodeText(p.name, r.encoding);
        if (r.mutation.kind === "name-only" && i === r.pairs.length - 1) return name;
        return `${name}=${encodeText(p.value.text, r.encoding)}${p.value.raw ?? ""}`;
      })
      .join(separator);
    body = new TextEncoder().encode(text);
  }
  const m = r.mutation;
  if (m.kind === "truncate") body = body.subarray(0, Math.floor(body.byteLength * m.at));
  if (m.kind === "insert") {
    const at = Math.floor(body.byteLength * m.at);
    body = concat(body.subarray(0, at), new Uint8Array(m.bytes), body.subarray(at));
  }
  if (m.kind === "bom") body = concat(new Uint8Array([0xef, 0xbb, 0xbf]), body);
  return { contentType: r.contentType, headers: r.headers, body, note: r.note };
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** A short description of a request for failure messages (the body can be 256 KiB). */
export function showWire(w: WireRequest): string {
  const text = Buffer.from(w.body).toString("latin1");
  return `${w.note} | content-type ${JSON.stringify(w.contentType)} | headers ${JSON.stringify(w.headers).slice(0, 200)} | ${w.body.byteLength} bytes: ${JSON.stringify(text.slice(0, 300))}`;
}
