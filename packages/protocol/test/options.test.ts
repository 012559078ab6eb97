/** Options checked once (STYLE.md practice 5): the shared unknown-key check and its "did you mean". */
import { describe, expect, it } from "vitest";
import { closestName, describeValue, isPlainObject, unknownOptionSentence } from "../src/options.js";

const KNOWN = ["endpoint", "allowHttp", "pages", "replace", "headers", "globalData", "shortcode"];

describe("unknownOptionSentence", () => {
  it.each([
    [{ endpoint: "x", pages: "all" }, undefined],
    [{ endpiont: "x" }, "unknown option `endpiont`; did you mean `endpoint`?"],
    [{ allowhttp: true }, "unknown option `allowhttp`; did you mean `allowHttp`?"],
    [{ shortCode: true }, "unknown option `shortCode`; did you mean `shortcode`?"],
    [{ ALLOWHTTP: true }, "unknown option `ALLOWHTTP`; did you mean `allowHttp`?"],
    [{ colour: "red" }, "unknown option `colour` (known options: `endpoint`, `allowHttp`, `pages`, `replace`, `headers`, `globalData`, `shortcode`)."],
  ])("%o → %s", (options, sentence) => {
    expect(unknownOptionSentence(options, KNOWN)).toBe(sentence);
  });
  it("names the first unknown key", () => {
    expect(unknownOptionSentence({ endpoint: "x", zzz: 1, endpiont: 2 }, KNOWN)).toMatch(/^unknown option `zzz`/);
  });
});

describe("closestName", () => {
  it("takes a typo within max(2, length / 3) edits, the first of equals", () => {
    expect(closestName("maxage", ["maxAge", "maxBodyBytes"])).toBe("maxAge");
    expect(closestName("dataDirectory", ["dataDir", "dev"])).toBeUndefined();
    expect(closestName("lgoger", ["logger", "trustProxy"])).toBe("logger");
    expect(closestName("ab", ["ax", "ay"])).toBe("ax");
  });
});

describe("describeValue and isPlainObject", () => {
  it("say what was given", () => {
    expect(describeValue("x".repeat(100))).toBe(JSON.stringify(`${"x".repeat(77)}...`));
    expect([null, [], () => 0, {}, 3].map(describeValue)).toEqual(["null", "an array", "a function", "an object", "3"]);
    expect([{}, Object.create(null), [], new Date(), null].map(isPlainObject)).toEqual([true, true, false, false, false]);
  });
});
