/** The public surface is deliberate (STYLE.md practice 10): adding or removing an export changes this snapshot. */
import { expect, it } from "vitest";
import * as web from "../src/index.js";
import * as dev from "../src/dev-authorization-server.js";

it("@indiepm/web exports exactly these names", () => {
  expect(Object.keys(web).sort()).toEqual([
    "CONTENT_SECURITY_POLICY",
    "WEB_ERROR_CODES",
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
    "withWebInbox",
  ]);
});

it("@indiepm/web/dev-authorization-server exports exactly these names", () => {
  expect(Object.keys(dev).sort()).toEqual(["startDevAuthorizationServer"]);
});
