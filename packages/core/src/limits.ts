/**
 * Every lifetime and limit of this package, in one place; import them from here. The
 * protocol's own wire numbers (body and `content` sizes, `expires_in` bounds, the retry
 * schedule and `JOB_LIMITS`) are `@indiepm/protocol`'s.
 */

/** PROTOCOL.md §4 step 2: codes live at most 5 minutes. */
export const CODE_LIFETIME_MS = 5 * 60_000;
/** §3 step 4: message tokens live at most 10 minutes. */
export const MESSAGE_TOKEN_LIFETIME_MS = 10 * 60_000;
/** §4: a sender starts a new handshake when its token has less than a minute left. */
export const TOKEN_RENEW_MARGIN_MS = 60_000;
/** How precisely a standing token's `lastUsedAt` is kept (§3/§4 step 6, `deliver`). */
export const LAST_USED_RESOLUTION_MS = 60_000;
