/** The public surface is deliberate (STYLE.md practice 10): adding or removing an export changes this snapshot. */
import { expect, it } from "vitest";
import * as core from "../src/index.js";
import * as node from "../src/node-http.js";
import * as urls from "../src/urls.js";

it("@indiepm/core exports exactly these names", () => {
  expect(Object.keys(core).sort()).toMatchInlineSnapshot(`
    [
      "ACTIONS",
      "COLLECTIONS",
      "CONVERSATION_WINDOW",
      "DEFAULT_GRANT_LIFETIME_SECONDS",
      "DEFAULT_HTTP_LIMITS",
      "DEFAULT_RETRY",
      "DEFAULT_USER_AGENT",
      "DISCOVERY_LIMITS",
      "DuplicateKeyError",
      "ERROR_STATUS",
      "FINAL_CODES",
      "HOST_BLOCK_PREFIX",
      "JOB_LIMITS",
      "LOCAL_ERROR_CODES",
      "MAX_BODY_BYTES",
      "MAX_CONTENT_BYTES",
      "MAX_MESSAGE_ID_LENGTH",
      "PmError",
      "WRITE_POLICIES",
      "allowsSender",
      "backoffDelay",
      "bearerToken",
      "blockedBy",
      "canonicalIp",
      "canonicalUrl",
      "classifyAnswer",
      "conversationId",
      "createHttpClient",
      "createMemoryStore",
      "createPmLinkFinder",
      "createPmServer",
      "createSanitizerPool",
      "discoverEndpoint",
      "effectiveSettings",
      "encodeForm",
      "endpointFromResponse",
      "errorResponse",
      "findPmLink",
      "findPmLinkInHtml",
      "hashSecret",
      "isFormContentType",
      "isIpHost",
      "isMessageId",
      "isProtocolErrorCode",
      "isRefusedAddress",
      "isRfc3339",
      "jsonResponse",
      "linksInHtml",
      "newSecret",
      "openNedbStore",
      "pageLinksTo",
      "parseBlockEntry",
      "parseFederationRequest",
      "parseForm",
      "parseIpv4Literal",
      "parseLinkHeader",
      "parseSiteUrl",
      "refusalOf",
      "relHasPm",
      "retryAfterMs",
      "sanitizeHtml",
      "vouchingContact",
      "webhookPayload",
    ]
  `);
});

it("@indiepm/core/node exports exactly these names", () => {
  expect(Object.keys(node).sort()).toMatchInlineSnapshot(`
    [
      "MAX_FEDERATION_BODY_BYTES",
      "TRUST_PROXY_OFF",
      "clientAddressOf",
      "clientAddressResolver",
      "createNodeHandler",
      "parseTrustProxy",
      "readBody",
      "requestUrl",
      "sendWebResponse",
      "toWebRequest",
    ]
  `);
});

it("@indiepm/core/urls exports exactly these names", () => {
  expect(Object.keys(urls).sort()).toMatchInlineSnapshot(`
    [
      "MAX_MESSAGE_ID_LENGTH",
      "MAX_URL_LENGTH",
      "canonicalUrl",
      "hostOf",
      "isIpHost",
      "isLocalhostName",
      "isMessageId",
      "lengthRefusalOf",
      "parseEndpointUrl",
      "parseSiteUrl",
      "refusalOf",
      "siteRefusalOf",
    ]
  `);
});
