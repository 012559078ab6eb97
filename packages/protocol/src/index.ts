/**
 * @indiepm/protocol — the rules of the rel=pm private-messaging protocol
 * (PROTOCOL.md) as pure functions: data in, verdicts out, no I/O and no state. What a
 * light consumer (a static-site plugin, a setup tool) needs, and what the engine
 * (`@indiepm/core`) decides with. Its one dependency is htmlparser2, for HTML discovery.
 */

// URLs (PROTOCOL.md "URLs", §2 Formats)
export {
  canonicalUrl,
  hostOf,
  isIpHost,
  isLocalhostName,
  isMessageId,
  lengthRefusalOf,
  MAX_MESSAGE_ID_LENGTH,
  MAX_URL_LENGTH,
  parseEndpointUrl,
  parseSiteUrl,
  refusalOf,
  siteRefusalOf,
} from "./urls.js";
export type { UrlPolicy } from "./urls.js";

// §2 errors
export { ERROR_STATUS, errorResponse, isProtocolErrorCode, jsonResponse, LOCAL_ERROR_CODES, PmError } from "./errors.js";
export type { ErrorBody, ErrorCode, LocalErrorCode, PmErrorOptions, ProtocolErrorCode } from "./errors.js";
