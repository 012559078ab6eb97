/**
 * @indiepm/web — the owner's web inbox for an indiepm server (`createWebInbox`): a
 * `Request → Response` handler that the standalone server (`@indiepm/cli`) and the
 * Express middleware (`indiepmInbox()` in `@indiepm/express`) mount.
 */
export { createWebInbox } from "./inbox.js";
export type { WebInbox, WebInboxContext, WebInboxOptions } from "./inbox.js";
export { WEB_INBOX_OPTION_NAMES } from "./options.js";
export { WebInboxError, WEB_ERROR_CODES } from "./errors.js";
export type { WebErrorCode } from "./errors.js";
export { CONTENT_SECURITY_POLICY } from "./security.js";
export {
  authorizationLinksFromPage,
  authorizationUrl,
  discoverAuthorizationServer,
  normalizeProfileUrl,
  pkceChallenge,
  pkcePair,
  processMetadata,
  processProfileResponse,
  redeemCode,
  verifyMe,
} from "./indieauth.js";
export type { AuthorizationServer } from "./indieauth.js";
