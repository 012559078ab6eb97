/** The route table's matcher (router.ts): one row per case. */
import { describe, expect, it } from "vitest";
import { createRouter, route } from "../src/router.js";

const answer = (name: string) => async () => new Response(name);
const match = createRouter([
  route("GET", "/", answer("home")),
  route("GET", "/c/:id", answer("conversation")),
  route("GET", "/c/:id/status.json", answer("conversation status")),
  route("POST", "/c/:id/reply", answer("reply")),
  route("POST", "/settings/policy", answer("policy")),
  route("POST", "/settings/*", answer("unknown setting")),
  route("GET", "/static/*", answer("static")),
]);

describe("createRouter", () => {
  it.each<[string, string, string | undefined, Record<string, string>?]>([
    ["GET", "/", "home"],
    ["HEAD", "/", "home"],
    ["POST", "/", undefined],
    ["GET", "/c/abc_D-9", "conversation", { id: "abc_D-9" }],
    ["GET", "/c/abc/status.json", "conversation status", { id: "abc" }],
    ["GET", "/c/a.b", undefined],
    ["GET", "/c/", undefined],
    ["GET", "/c/a/b", undefined],
    ["POST", "/c/abc/reply", "reply", { id: "abc" }],
    ["GET", "/c/abc/reply", undefined],
    ["POST", "/settings/policy", "policy"],
    ["POST", "/settings/contacts/add", "unknown setting", { rest: "contacts/add" }],
    ["GET", "/static/app.js", "static", { rest: "app.js" }],
    ["GET", "/static/", "static", { rest: "" }],
    ["GET", "/staticx", undefined],
  ])("%s %s → %s", async (method, path, expected, params = {}) => {
    const found = match(method, path);
    if (expected === undefined) return expect(found).toBeUndefined();
    expect(await (await found!.route.handle(new Request("http://x/"), found!.params, undefined)).text()).toBe(expected);
    expect(found!.params).toEqual(params);
  });
});
