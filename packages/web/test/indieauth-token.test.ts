/**
 * IndieAuth §5.3.3 as a channel's token endpoint answers (indieauth-token.ts
 * `processTokenResponse`): only a Bearer access token with scope create is taken; every
 * other answer is refused with a sentence naming the endpoint, and no token is kept.
 */
import { describe, expect, it } from "vitest";
import { processTokenResponse } from "../src/indieauth-token.js";

const ENDPOINT = "https://aperture.example/token";

describe("a token endpoint's answer", () => {
  it("takes a Bearer access token with scope create, and the channel's me", () => {
    expect(
      processTokenResponse(200, { access_token: "abc123", token_type: "Bearer", scope: "create", me: "https://aperture.example/1-2-3" }, ENDPOINT),
    ).toEqual({
      accessToken: "abc123",
      scope: ["create"],
      me: "https://aperture.example/1-2-3",
    });
    // Aperture answers no token_type; "post" is its older name of create.
    expect(processTokenResponse(200, { access_token: "abc123", scope: "post" }, ENDPOINT)).toEqual({ accessToken: "abc123", scope: ["post"] });
    // RFC 6749 §5.1: no `scope` means the one asked for, `create` (Indiekit's token endpoint leaves it out so).
    expect(processTokenResponse(200, { access_token: "abc123", token_type: "Bearer" }, ENDPOINT)).toEqual({ accessToken: "abc123", scope: ["create"] });
  });

  it.each([
    [
      "an error",
      400,
      { error: "invalid_grant", error_description: "The authorization code provided was invalid" },
      "gave no access token: it answered 400 (invalid_grant: The authorization code provided was invalid).",
    ],
    ["no access_token", 200, { scope: "create" }, "gave no access token: it answered 200."],
    ["a token with spaces", 200, { access_token: "a b", scope: "create" }, "gave no access token"],
    ["a token of 5,000 characters", 200, { access_token: "x".repeat(5000), scope: "create" }, "gave no access token"],
    ["another token type", 200, { access_token: "abc", token_type: "mac", scope: "create" }, "gave a mac token, not a Bearer token."],
    ["no create scope", 200, { access_token: "abc", scope: "read follow" }, "did not grant the create scope"],
    ["an empty scope", 200, { access_token: "abc", scope: "" }, "did not grant the create scope"],
    ["a scope that is not a string", 200, { access_token: "abc", scope: ["create"] }, "did not grant the create scope"],
    ["not JSON", 200, undefined, "gave no access token"],
  ])("refuses %s", (_name, status, json, sentence) => {
    expect(() => processTokenResponse(status, json, ENDPOINT)).toThrow(sentence);
    expect(() => processTokenResponse(status, json, ENDPOINT)).toThrow(`The channel's token endpoint ${ENDPOINT}`);
  });

  it("leaves out a me that is not an http(s) URL", () => {
    expect(processTokenResponse(200, { access_token: "abc", scope: "create", me: "javascript:alert(1)" }, ENDPOINT)).toEqual({
      accessToken: "abc",
      scope: ["create"],
    });
  });
});
