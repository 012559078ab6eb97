/** The public surface is deliberate (STYLE.md practice 10): adding or removing an export changes this snapshot. */
import { expect, it } from "vitest";
import * as protocol from "../src/index.js";

it("@indiepm/protocol exports exactly these names", () => {
  expect(Object.keys(protocol).sort()).toMatchInlineSnapshot(`
    [
      "ERROR_STATUS",
      "LOCAL_ERROR_CODES",
      "MAX_MESSAGE_ID_LENGTH",
      "MAX_URL_LENGTH",
      "PmError",
      "canonicalUrl",
      "errorResponse",
      "hostOf",
      "isIpHost",
      "isLocalhostName",
      "isMessageId",
      "isProtocolErrorCode",
      "jsonResponse",
      "lengthRefusalOf",
      "parseEndpointUrl",
      "parseSiteUrl",
      "refusalOf",
      "siteRefusalOf",
    ]
  `);
});
