/** The public surface is deliberate (STYLE.md practice 10): adding or removing an export changes this snapshot. */
import { expect, it } from "vitest";
import * as tokenizer from "../src/html-tokenizer.js";
import * as protocol from "../src/index.js";

it("@indiepm/protocol exports exactly these names", () => {
  expect(Object.keys(protocol).sort()).toMatchInlineSnapshot(`
    [
      "ACTIONS",
      "DEFAULT_RETRY",
      "ERROR_STATUS",
      "FINAL_CODES",
      "HOST_BLOCK_PREFIX",
      "JOB_LIMITS",
      "LOCAL_ERROR_CODES",
      "MAX_BODY_BYTES",
      "MAX_CONTENT_BYTES",
      "MAX_EXPIRES_IN",
      "MAX_MESSAGE_ID_LENGTH",
      "MAX_URL_LENGTH",
      "MIN_EXPIRES_IN",
      "MIN_RETRY_DELAY_MS",
      "PmError",
      "WRITE_POLICIES",
      "allowsSender",
      "backoffDelay",
      "bearerToken",
      "blockedBy",
      "cacheLifetimeMs",
      "canonicalUrl",
      "classifyAnswer",
      "classifyFailure",
      "classifyWebhookAnswer",
      "closestName",
      "codeIsLive",
      "createPmLinkFinder",
      "deliverForm",
      "deliverFormExcess",
      "describeValue",
      "effectiveSettings",
      "encodeForm",
      "errorResponse",
      "escapeAttribute",
      "findPmLink",
      "findPmLinkInHtml",
      "hostOf",
      "isFormContentType",
      "isIpHost",
      "isLocalhostName",
      "isMessageId",
      "isPlainObject",
      "isProtocolErrorCode",
      "isRfc3339",
      "jsonResponse",
      "lengthRefusalOf",
      "linkHeaderNamesPm",
      "linksInHtml",
      "nextTry",
      "parseBlockEntry",
      "parseEndpointUrl",
      "parseFederationRequest",
      "parseForm",
      "parseLinkHeader",
      "parseSiteUrl",
      "pmLinkElement",
      "pmLinkHeaderValue",
      "refusalOf",
      "relHasPm",
      "retryAfterMs",
      "retryDelay",
      "siteRefusalOf",
      "tokenVerdict",
      "unknownOptionSentence",
      "utf8Length",
      "verdictFor",
    ]
  `);
});

it("@indiepm/protocol/html-tokenizer exports exactly these names", () => {
  expect(Object.keys(tokenizer).sort()).toMatchInlineSnapshot(`
    [
      "Parser",
      "QuoteType",
      "Tokenizer",
    ]
  `);
});
