/** The public surface is deliberate (STYLE.md practice 10): adding or removing an export changes this snapshot. */
import { expect, it } from "vitest";
import * as ghost from "../src/index.js";

it("@indiepm/ghost exports exactly these names", () => {
  expect(Object.keys(ghost).sort()).toMatchInlineSnapshot(`
    [
      "CODE_INJECTION_SETTING",
      "DEFAULT_GHOST_UPSTREAM",
      "DEFAULT_PM_UPSTREAM",
      "GHOST_ACCEPT_VERSION",
      "GHOST_ERROR_CODES",
      "GhostError",
      "IntegrationKeyError",
      "PROXY_SERVERS",
      "adminApiToken",
      "createGhostAdminClient",
      "findPmLinks",
      "manualStep",
      "parseAdminKey",
      "pmLinkHeaderValue",
      "pmLinkTag",
      "proxyLayout",
      "proxySnippet",
      "removePmLink",
      "setPmLink",
      "setupGhost",
    ]
  `);
});
