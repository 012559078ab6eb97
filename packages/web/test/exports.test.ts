/** The public surface is deliberate (STYLE.md practice 10): adding or removing an export changes this snapshot. */
import { expect, it } from "vitest";
import * as web from "../src/index.js";
import { readFileSync } from "node:fs";

it("@indiepm/web exports exactly these names", () => {
  expect(Object.keys(web).sort()).toEqual([
    "CONTENT_SECURITY_POLICY",
    "WEB_ERROR_CODES",
    "WEB_INBOX_OPTION_NAMES",
    "WebInboxError",
    "authorizationLinksFromPage",
    "authorizationUrl",
    "createWebInbox",
    "discoverAuthorizationServer",
    "normalizeProfileUrl",
    "pkceChallenge",
    "pkcePair",
    "processMetadata",
    "processProfileResponse",
    "redeemCode",
    "verifyMe",
  ]);
});

// The standalone composition moved to @indiepm/cli (`withWebInbox`); the no-password
// authorization server to the private @indiepm/test-support: neither is the inbox's to ship.
it("@indiepm/web has no other entry points", () => {
  const packageJson = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { exports: Record<string, unknown> };
  expect(Object.keys(packageJson.exports).sort()).toEqual([".", "./package.json"]);
});
