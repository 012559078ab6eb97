/**
 * The protocol's error codes and their HTTP statuses (PROTOCOL.md §2), and the one
 * error type of the protocol's rules and of `@indiepm/core`'s engine, which throws the
 * same `PmError`. Every refusal is a `PmError` with one of these codes, so the edges
 * (Express, node:http) turn it into the §2 JSON answer without knowing why it happened.
 */
import { WholeResponse } from "./whole-body.js";

/** PROTOCOL.md §2, the error table: code → HTTP status. */
export const ERROR_STATUS = {
  invalid_request: 400,
  invalid_code: 400,
  invalid_token: 401,
  forbidden: 403,
  unknown_recipient: 404,
  unknown_message: 404,
  endpoint_mismatch: 409,
  too_large: 413,
  rate_limited: 429,
  server_error: 500,
  temporarily_unavailable: 503,
} as const;

/** An error code a federation endpoint answers with (PROTOCOL.md §2). */
export type ProtocolErrorCode = keyof typeof ERROR_STATUS;

/**
 * Codes that are not answers of a peer but outcomes seen by this side: why discovery
 * or an outgoing request failed, or why a delivery ended. They appear in delivery
 * records (`failed` with `error`) and in the CLI's output.
 */
export const LOCAL_ERROR_CODES = [
  "no_endpoint", // §1: the site names no pm endpoint
  "discovery_failed", // §1: the site answered non-2xx, looped, or sent too much
  "address_refused", // §6: a loopback/private/… address, or http/IP in production
  "network_error", // connection refused, reset, DNS failure
  "timeout", // §1 5 s / §6 10 s limits, or §6's 60 s wait for request/grant
  "bad_response", // a peer answered something that is not what §2 allows
  "expired", // §6: retried for as long as the policy allows and gave up
  "invalid_config", // an option or setting is wrong (start-up only)
  "store_error", // the store refused (locked, corrupt)
  "cancelled", // the owner cancelled a delivery (it is never tried again)
] as const;
export type LocalErrorCode = (typeof LOCAL_ERROR_CODES)[number];

export type ErrorCode = ProtocolErrorCode | LocalErrorCode;

export function isProtocolErrorCode(code: unknown): code is ProtocolErrorCode {
  return typeof code === "string" && Object.hasOwn(ERROR_STATUS, code);
}

export interface PmErrorOptions {
  cause?: unknown;
  /** For `rate_limited`: seconds until the client may come back (§2). */
  retryAfter?: number;
  /** For a failed outgoing request: the HTTP status the peer answered (a discovery's final answer, §6 Retries). */
  peerStatus?: number;
}

/** The error type of `@indiepm/protocol` and `@indiepm/core`: a code, a one-sentence description, a cause. */
export class PmError extends Error {
  override name = "PmError";
  readonly code: ErrorCode;
  readonly retryAfter: number | undefined;
  /** The HTTP status the peer answered, when an outgoing request failed on its answer. */
  readonly peerStatus: number | undefined;

  constructor(code: ErrorCode, description: string, options: PmErrorOptions = {}) {
    super(description, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryAfter = options.retryAfter;
    this.peerStatus = options.peerStatus;
  }

  /** The HTTP status this error is answered with; local codes map to 500. */
  get status(): number {
    return isProtocolErrorCode(this.code) ? ERROR_STATUS[this.code] : 500;
  }
}

/** The §2 error body: `{"error": CODE, "error_description": TEXT}`. */
export interface ErrorBody {
  error: ProtocolErrorCode;
  error_description: string;
}

/**
 * Turns any thrown value into the §2 answer. Unknown failures become
 * `500 server_error` with a fixed description: no stack or internals leak (§2).
 */
export function errorResponse(error: unknown): Response {
  const pm = error instanceof PmError && isProtocolErrorCode(error.code) ? error : storeUnavailable(error);
  const code: ProtocolErrorCode = pm ? (pm.code as ProtocolErrorCode) : "server_error";
  const body: ErrorBody = {
    error: code,
    error_description: pm ? pm.message : "The server failed unexpectedly; the failure was logged.",
  };
  const response = new WholeResponse(JSON.stringify(body), {
    status: ERROR_STATUS[code],
    headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" },
  });
  const { headers } = response;
  if (code === "invalid_token") headers.set("www-authenticate", 'Bearer error="invalid_token"');
  if (code === "rate_limited") headers.set("retry-after", String(Math.max(1, Math.ceil(pm?.retryAfter ?? 60))));
  if (code === "temporarily_unavailable" && pm?.retryAfter !== undefined) headers.set("retry-after", String(Math.max(1, Math.ceil(pm.retryAfter))));
  return response;
}

/** Seconds a client is asked to wait when the store cannot be reached (a database restarting). */
export const STORE_UNAVAILABLE_RETRY_AFTER_S = 5;

/**
 * A store that cannot answer now (`store_error`: a database down or restarting, a lock
 * held) is this server being temporarily unavailable (§2 `503`): the peer retries (§6),
 * and the request had no effect that was answered. Its description names nothing of the
 * store (hosts, paths) — that goes to the log.
 */
function storeUnavailable(error: unknown): PmError | undefined {
  if (!(error instanceof PmError) || error.code !== "store_error") return undefined;
  return new PmError("temporarily_unavailable", "This server cannot reach its storage now; try again shortly.", {
    cause: error,
    retryAfter: STORE_UNAVAILABLE_RETRY_AFTER_S,
  });
}

/** A JSON answer with the §2 content type. */
export function jsonResponse(body: unknown, status = 200, init: HeadersInit = {}): Response {
  // The answer's own headers, set in place: one Headers, not one copied into another.
  const response = new WholeResponse(JSON.stringify(body), { status, headers: init });
  response.headers.set("content-type", "application/json; charset=utf-8");
  if (!response.headers.has("cache-control")) response.headers.set("cache-control", "no-store");
  return response;
}
