/** PROTOCOL.md §1 caching: how long a discovery answer may be reused, as a private cache reads its headers. */
import { describe, expect, it } from "vitest";
import { type CacheHeaders, cacheLifetimeMs } from "../src/index.js";

const NOW = Date.parse("2026-01-01T00:00:00Z");
const DATE = "Thu, 01 Jan 2026 00:00:00 GMT";

const cases: [string, CacheHeaders, number][] = [
  ["no headers: not at all", {}, 0],
  ["max-age", { cacheControl: "max-age=60" }, 60_000],
  ["max-age, any case and spacing", { cacheControl: "  Max-Age = 60 " }, 60_000],
  ["quoted max-age", { cacheControl: 'max-age="60"' }, 60_000],
  ["max-age=0", { cacheControl: "max-age=0" }, 0],
  ["private is fine for a private cache", { cacheControl: "private, max-age=30" }, 30_000],
  ["public", { cacheControl: "public, max-age=30" }, 30_000],
  ["must-revalidate still allows reuse until expiry", { cacheControl: "max-age=30, must-revalidate" }, 30_000],
  ["no-store forbids it", { cacheControl: "max-age=60, no-store" }, 0],
  ["no-cache forbids it", { cacheControl: "no-cache, max-age=60" }, 0],
  ["qualified no-cache forbids it too", { cacheControl: 'no-cache="set-cookie", max-age=60' }, 0],
  ["s-maxage is for shared caches", { cacheControl: "s-maxage=600" }, 0],
  ["s-maxage beside max-age", { cacheControl: "s-maxage=600, max-age=5" }, 5_000],
  ["malformed max-age", { cacheControl: "max-age=abc" }, 0],
  ["negative max-age", { cacheControl: "max-age=-5" }, 0],
  ["fractional max-age", { cacheControl: "max-age=1.5" }, 0],
  ["first max-age wins", { cacheControl: "max-age=10, max-age=99" }, 10_000],
  ["max-age wins over Expires", { cacheControl: "max-age=10", expires: "Thu, 01 Jan 2026 01:00:00 GMT", date: DATE }, 10_000],
  ["Expires counts from Date", { expires: "Thu, 01 Jan 2026 00:02:00 GMT", date: "Thu, 01 Jan 2026 00:01:00 GMT" }, 60_000],
  ["Expires without Date counts from now", { expires: "Thu, 01 Jan 2026 00:05:00 GMT" }, 300_000],
  ["Expires in the past", { expires: "Wed, 31 Dec 2025 23:00:00 GMT", date: DATE }, 0],
  ["Expires that does not parse is in the past", { expires: "0", date: DATE }, 0],
  ["Expires with no-store", { cacheControl: "no-store", expires: "Thu, 01 Jan 2026 01:00:00 GMT", date: DATE }, 0],
  ["Cache-Control without a lifetime leaves Expires in charge", { cacheControl: "public", expires: "Thu, 01 Jan 2026 00:00:30 GMT", date: DATE }, 30_000],
  ["Age is taken off", { cacheControl: "max-age=60", age: "20" }, 40_000],
  ["an Age past the lifetime", { cacheControl: "max-age=60", age: "90" }, 0],
  ["unknown directives are ignored", { cacheControl: "immutable, stale-while-revalidate=30, max-age=7" }, 7_000],
  ["null values are absent", { cacheControl: null, expires: null, date: null, age: null }, 0],
];

describe("cacheLifetimeMs", () => {
  it.each(cases)("%s", (_name, headers, expected) => {
    expect(cacheLifetimeMs(headers, NOW)).toBe(expected);
  });
});
