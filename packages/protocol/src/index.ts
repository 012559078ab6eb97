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

// Requests and answers whose body is whole in memory (what every §2 answer is)
export { WholeRequest, WholeResponse } from "./whole-body.js";

// §1 discovery: the Link header (step 2) and the HTML (steps 3–4)
export { findPmLink, parseLinkHeader } from "./discovery/link-header.js";
export type { LinkValue } from "./discovery/link-header.js";
export { createPmLinkFinder, findPmLinkInHtml } from "./discovery/html.js";
export type { PmLinkFinder, PmLinkFinderOptions, PmLinkMatch } from "./discovery/html.js";
export { linksInHtml } from "./discovery/links.js";
export type { HtmlLink } from "./discovery/links.js";

// §1 caching a discovery result: how long the answer's headers allow
export { cacheLifetimeMs } from "./cache-control.js";
export type { CacheHeaders } from "./cache-control.js";

// §1 the rel=pm link itself: the one writer and the one rel test
export { escapeAttribute, linkHeaderNamesPm, pmLinkElement, pmLinkHeaderValue, relHasPm } from "./rel-pm.js";

// §2–§5 requests
export { encodeForm, isFormContentType, parseForm } from "./form.js";
export { deliverForm, deliverFormExcess } from "./deliver-form.js";
export type { DeliverMessage } from "./deliver-form.js";
export type { FormParams } from "./form.js";
export {
  ACTIONS,
  bearerToken,
  isRfc3339,
  MAX_BODY_BYTES,
  MAX_CONTENT_BYTES,
  MAX_EXPIRES_IN,
  MIN_EXPIRES_IN,
  parseFederationRequest,
  utf8Length,
} from "./params.js";
export type {
  Action,
  AuthorizeRequest,
  DeliverRequest,
  FederationRequest,
  GrantRequest,
  NotifyRequest,
  RequestRequest,
  VerifyRequest,
} from "./params.js";

// §3 step 6, §4 steps 3–6, §6 Secrets: codes and tokens
export { codeIsLive, tokenVerdict } from "./tokens.js";
export type { IssuedSecret, TokenVerdict } from "./tokens.js";

// §6 Retries
export {
  backoffDelay,
  classifyAnswer,
  classifyFailure,
  classifyWebhookAnswer,
  DEFAULT_RETRY,
  FINAL_CODES,
  JOB_LIMITS,
  MIN_RETRY_DELAY_MS,
  nextTry,
  retryAfterMs,
  retryDelay,
} from "./retry.js";
export type { Failure, JobKind, JobLimits, NextTry, Outcome, PeerAnswer, RetrySchedule } from "./retry.js";

// §7 who may write
export { allowsSender, blockedBy, effectiveSettings, HOST_BLOCK_PREFIX, parseBlockEntry, verdictFor, WRITE_POLICIES } from "./policy.js";
export type { SitePolicy, SiteSettings, StoredSettings, WritePolicy } from "./policy.js";

// Options of the packages built on these rules (STYLE.md practice 5)
export { closestName, describeValue, isPlainObject, unknownOptionSentence } from "./options.js";
