/**
 * The engine's lifetimes and limits, in one place; import them from here. Elsewhere, each
 * in one place too: the protocol's own wire numbers (body and `content` sizes, `expires_in`
 * bounds, the retry schedule `DEFAULT_RETRY` and `JOB_LIMITS`, handshakes' one-hour
 * give-up included) are `@indiepm/protocol`'s; option defaults are `PM_SERVER_DEFAULTS`
 * (options.ts); body limits by route `BODY_LIMITS` (http/body-limits.ts); outgoing
 * requests' `DEFAULT_HTTP_LIMITS` (http/client.ts); the sanitizer's `HTML_LIMITS`
 * (sanitize/purify.js, which its worker loads without TypeScript) and `DEFAULT_SANITIZER`
 * (sanitize/pool.ts).
 */
import type { RateLimitOptions } from "./protocol/rate-limit.js";

/** PROTOCOL.md §4 step 2: codes live at most 5 minutes. */
export const CODE_LIFETIME_MS = 5 * 60_000;
/** §3 step 4: message tokens live at most 10 minutes. */
export const MESSAGE_TOKEN_LIFETIME_MS = 10 * 60_000;
/** §4: a sender starts a new handshake when its token has less than a minute left. */
export const TOKEN_RENEW_MARGIN_MS = 60_000;
/** How precisely a standing token's `lastUsedAt` is kept (§3/§4 step 6, `deliver`). */
export const LAST_USED_RESOLUTION_MS = 60_000;

// §6 Abuse (protocol/rate-limit.ts, jobs/dialback.ts)

/** §6 Abuse defaults: `notify`/`authorize` a minute per sender site and per client address. */
export const DEFAULT_RATE_LIMITS: Readonly<RateLimitOptions> = { perSenderPerMinute: 60, perClientPerMinute: 300 };
/** The rate limiter's window. */
export const RATE_LIMIT_WINDOW_MS = 60_000;
/**
 * The most keys (sender sites plus client addresses) the limiter holds, about 150 bytes
 * each: 20,000 keep it near 3 MiB. Past it the oldest window goes first — the one
 * closest to its end anyway; forgetting it can only let that key in early, never refuse
 * anyone.
 */
export const MAX_RATE_LIMIT_KEYS = 20_000;
/**
 * §6 Abuse, for the work a notify/authorize leaves behind: at most this many handshakes
 * (steps 3–4) under way at once for sender sites on one host name (ports ignored), so
 * one party cannot fill the store and the queue with dialbacks nobody answers. An honest
 * handshake ends within seconds; 100 at once is far above what one host's sites need.
 */
export const MAX_ACTIVE_HANDSHAKES_PER_SENDER_HOST = 100;
/**
 * `Retry-After` of the 429 past that cap: §6's wait for `request`/`grant` (60 s), in
 * which an honest handshake ends and frees its place; an abandoned one takes longer, so
 * the sender is refused again — which is the point.
 */
export const HANDSHAKE_CAP_RETRY_AFTER_SECONDS = 60;

// The work queue and the sweeper (protocol/jobs/queue.ts, jobs/sweeper.ts)

/** Due items of each kind the queue reads per tick. */
export const QUEUE_BATCH = 64;
/** Jobs the queue runs at once. */
export const QUEUE_CONCURRENCY = 16;
/** How often the store is swept. */
export const SWEEP_INTERVAL_MS = 60_000;
/**
 * How long a finished handshake stays. Nothing reads it once finished: a notify that
 * comes again finds the stored message (§3 step 2) or starts a new handshake, exactly
 * as when it is gone. Kept a while for whoever looks at the data folder.
 */
export const FINISHED_HANDSHAKE_KEEP_MS = 10 * 60_000;
/**
 * How long an expired code or token stays. §3 step 6 answers a repeated `deliver` with
 * `200 duplicate` only until T expires, and after that an expired token and an unknown
 * one both get 401; the margin covers a clock stepped back and requests in flight.
 */
export const EXPIRED_SECRET_KEEP_MS = 10 * 60_000;
/** Documents one sweep removes per find. */
export const SWEEP_BATCH = 500;

/** After the queue itself failed (a store error), the next tick. */
export const QUEUE_ERROR_RETRY_MS = 1_000;
/**
 * Several processes on one store (`Store.shared`, jobs/queue.ts): a job is taken by moving
 * its `nextAttemptAt` this far ahead (its lease), renewed every third of it while the job
 * runs. A process that dies holding one leaves the job to the others once this has passed.
 * A holder starts a request only with `LEASE_STEP_MS` + `LEASE_MARGIN_MS` of it left
 * (renewing first if need be) and cuts a request under way `LEASE_MARGIN_MS` before its
 * lease's end, so no two processes have the same job's request out at once.
 */
export const JOB_LEASE_MS = 30_000;
/**
 * The longest one request of a job may take: the guarded client's POST limit (§6, 10 s;
 * a discovery GET has 5 s). A client with longer limits is cut by the lease's signal.
 */
export const LEASE_STEP_MS = 10_000;
/**
 * How long before its lease's end a holder stops: no request starts that could still run
 * then, and one under way is aborted then. It covers the lag of the holder's timers and a
 * difference between the instances' clocks (the lease's end is the holder's clock, the
 * taker compares its own): the guarantee holds while clocks differ by less than this.
 */
export const LEASE_MARGIN_MS = 5_000;
/**
 * A delivery is written before its message (`PmServer.send`: so a crash between the two
 * leaves no message in the outbox that nothing delivers). For this long after a delivery
 * was written, a missing message is one still being written — another process may already
 * run the delivery (`SharedStore.onWork`) — and the delivery waits `UNSTORED_MESSAGE_RETRY_MS`;
 * after it, the message was deleted (or never accepted) and the delivery fails.
 */
export const UNSTORED_MESSAGE_GRACE_MS = 60_000;
export const UNSTORED_MESSAGE_RETRY_MS = 500;
/**
 * Several processes on one store: the longest the queue goes without looking for due work.
 * New work wakes it at once (`SharedStore.onWork`); this bounds the wait for work whose
 * notification was missed (a LISTEN connection not yet open, or reconnecting).
 */
export const SHARED_QUEUE_POLL_MS = 60_000;

// Sending (owner/messages.ts prepareSend, owner/recipients.ts)

/**
 * The most recipients one message may have, however it is written (the owner API and the
 * CLI, the web compose and reply, a Micropub post), each site counted once. Every recipient
 * costs this server a discovery (its page fetched before the message is accepted, 5 s at
 * most, `RECIPIENT_CHECKS_AT_ONCE` at a time) and then a delivery with its handshake, so
 * the figure bounds what one owner request can make the server do: 100 is at most 13
 * rounds of discovery (about a minute when every page is slow), and beyond any private
 * conversation people hold by hand — past it, a message is a mailing list, which this is not.
 */
export const MAX_RECIPIENTS = 100;

// The owner's lists (owner/messages.ts, owner/conversations.ts) and sessions (owner/sessions.ts)

/** Items a list answers when the query names no `limit`. */
export const LIST_DEFAULT = 100;
/** The most items a list answers, whatever the query's `limit`. */
export const LIST_MAX = 1000;
/** Expired owner sessions removed each time a session is made. */
export const OWNER_SESSION_SWEEP_BATCH = 100;

// Notifications (protocol/jobs/webhook.ts)

/** How much of the text a notification carries. */
export const WEBHOOK_EXCERPT_CHARS = 200;
