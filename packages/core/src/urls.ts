/**
 * `@indiepm/core/urls`: the URL rules of PROTOCOL.md ("URLs", §2 Formats) under the name
 * core has always given them. They are defined once, in `@indiepm/protocol` (urls.ts).
 */
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
} from "@indiepm/protocol";
export type { UrlPolicy } from "@indiepm/protocol";
