/**
 * @indiepm/core — the rel=pm private-messaging protocol (../shared/PROTOCOL.md) as a
 * framework-free engine: web-standard `Request`/`Response` in, decisions and outgoing
 * requests out.
 */
export type {
  Conversation,
  ConversationQuery,
  DeliveryProblem,
  DeliveryProblemQuery,
  ExportDocument,
  GrantedToken,
  ListQuery,
  Logger,
  MessageKey,
  MessageLookup,
  OwnerSessions,
  Page,
  PmServer,
  PmServerOptions,
  RequestContext,
  RetryOptions,
  SendOptions,
  SettingsChange,
  SharedOwnerState,
  SitePolicy,
  SiteSettings,
  Thread,
  ThreadItem,
  WebhookStatus,
  WebhookTestResult,
  WritePolicy,
  MicrosubStatus,
  MicrosubTargetInput,
} from "./api.js";
export { createPmServer } from "./server.js";
export type { AvatarImage, Person } from "./api.js";
// options: one rule each, every default in one place
export { DEFAULT_GRANT_LIFETIME_SECONDS, MIN_OWNER_TOKEN_LENGTH, PM_SERVER_DEFAULTS, PM_SERVER_OPTION_NAMES, resolvePmServerOptions } from "./options.js";
export type { ResolvedPmServerOptions, ResolveOptionsContext } from "./options.js";
export { BODY_LIMITS, MAX_REQUEST_BODY_BYTES } from "./http/body-limits.js";
export type { BodyLimitKind } from "./http/body-limits.js";
export type { DeliveryStatus, DeliveryView, Flow, ProtocolEvent, ReceivedMessage, Role, SendInput, SentMessage } from "./types.js";

// §2 errors
export { ERROR_STATUS, LOCAL_ERROR_CODES, PmError, errorResponse, isProtocolErrorCode, jsonResponse } from "./errors.js";
export type { ErrorBody, ErrorCode, LocalErrorCode, ProtocolErrorCode } from "./errors.js";
// the web inbox's live updates (owner/live.ts)
export type { Arrival, InboxStatus } from "./api.js";

// URLs and secrets
export { canonicalUrl, isIpHost, isMessageId, parseSiteUrl, refusalOf, MAX_MESSAGE_ID_LENGTH } from "./urls.js";
export type { UrlPolicy } from "./urls.js";
// recipients checked before a message is accepted (issue 12)
export { parseRecipientList, RecipientsRefusedError, TooManyRecipientsError } from "./owner/recipients.js";
export { MessageTooLargeError } from "./owner/messages.js";
// one recipient cap for every way of sending
export { MAX_RECIPIENTS } from "./limits.js";
export type { RecipientCheck, RecipientRefusal, RecipientUnreachable } from "./owner/recipients.js";
export { hashSecret, newSecret } from "./secrets.js";

// §1 discovery and §6 outgoing requests
export { discoverEndpoint, endpointFromResponse, DISCOVERY_LIMITS } from "./discovery/discover.js";
export type { Discovery, DiscoveryLimits } from "./discovery/discover.js";
export { createPmLinkFinder, findPmLink, findPmLinkInHtml, linksInHtml, parseLinkHeader, relHasPm } from "@indiepm/protocol";
export type { HtmlLink, LinkValue, PmLinkFinder, PmLinkFinderOptions, PmLinkMatch } from "@indiepm/protocol";
export { createHttpClient, DEFAULT_HTTP_LIMITS, DEFAULT_USER_AGENT } from "./http/client.js";
/** The `Accept` of a server's read of a correspondent's page for their h-card (not a §1 discovery). */
export { PROFILE_ACCEPT } from "./owner/profiles.js";
export type { ClosableHttpClient, HttpClientOptions, Lookup, ResolvedAddress } from "./http/client.js";
export { canonicalIp, isRefusedAddress, parseIpv4Literal } from "./http/addresses.js";
export { clientKeyOf } from "./protocol/rate-limit.js";
export type { FetchedPage, HttpClient, HttpGetOptions, HttpPostOptions, PostAnswer, RedirectHop } from "./http/types.js";

// §2–§5 request parsing (pure)
// (the pure rules are @indiepm/protocol's, re-exported under the names core always had)
export { encodeForm, isFormContentType, parseForm } from "@indiepm/protocol";
export type { FormParams } from "@indiepm/protocol";
export { ACTIONS, MAX_BODY_BYTES, MAX_CONTENT_BYTES, bearerToken, isRfc3339, parseFederationRequest } from "@indiepm/protocol";
export type { Action, FederationRequest } from "@indiepm/protocol";
export { backoffDelay, classifyAnswer, DEFAULT_RETRY, FINAL_CODES, JOB_LIMITS, retryAfterMs } from "@indiepm/protocol";
export type { JobKind, JobLimits } from "@indiepm/protocol";
export { allowsSender, blockedBy, effectiveSettings, HOST_BLOCK_PREFIX, parseBlockEntry, WRITE_POLICIES } from "@indiepm/protocol";
export { pageLinksTo, vouchingContact } from "./protocol/vouch.js";
export { webhookPayload } from "./protocol/jobs/webhook.js";
export { JF2_CONTENT_TYPE, MICROSUB_REFUSED, microsubEntry } from "./protocol/jobs/microsub.js";
export { conversationId, CONVERSATION_WINDOW } from "./owner/conversations.js";
export type { Chat, ChatThread } from "./owner/chats.js";
// What a deliver was answered from, given back to its write (Store.writeIfUnchanged).
export type { GivenDoc } from "./store/types.js";
export { deliveryId, plainReason as deliveryReason } from "./owner/deliveries.js";

// §5/§6 content
export { sanitizeHtml, createSanitizerPool } from "./sanitize.js";
export type { HtmlSanitizer, SanitizeOutcome, SanitizerPool, SanitizerPoolOptions } from "./sanitize.js";

// storage
export { COLLECTIONS, DuplicateKeyError } from "./store/types.js";
export type { CollectionName, ConversationSearch, Doc, DocKey, Patch, Query, Scalar, SharedStore, Store, TextSearch, Write } from "./store/types.js";
export { createMemoryStore, openNedbStore } from "./store/index.js";
export type { NedbStoreOptions } from "./store/index.js";
