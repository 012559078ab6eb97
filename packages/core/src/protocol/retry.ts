/**
 * PROTOCOL.md §6 "Retries": network errors, time-outs and 5xx are retried with
 * exponential back-off and jitter (default for up to 3 days); 429 after its
 * `Retry-After`; the codes listed there are final. Pure functions.
 */
import type { ErrorCode } from "../errors.js";
import type { PostAnswer } from "../http/types.js";

export interface RetrySchedule {
  baseDelayMs: number;
  maxDelayMs: number;
  giveUpAfterMs: number;
  handshakeTimeoutMs: number;
}

export const DEFAULT_RETRY: RetrySchedule = {
  baseDelayMs: 5_000,
  maxDelayMs: 60 * 60_000,
  giveUpAfterMs: 3 * 24 * 60 * 60_000,
  handshakeTimeoutMs: 60_000,
};

/**
 * Delay before retry number `attempt` (1 = the first retry): base·2^(attempt−1), capped,
 * with "equal jitter" (half fixed, half random) so many senders do not retry in step.
 */
export function backoffDelay(attempt: number, schedule: RetrySchedule, random: () => number = Math.random): number {
  const exp = Math.min(schedule.maxDelayMs, schedule.baseDelayMs * 2 ** Math.max(0, Math.min(attempt - 1, 40)));
  return Math.round(exp / 2 + (random() * exp) / 2);
}

/** §6: the answers that end a delivery for good. */
export const FINAL_CODES: ReadonlySet<string> = new Set([
  "invalid_request",
  "unknown_recipient",
  "unknown_message",
  "forbidden",
  "too_large",
  "endpoint_mismatch",
  "invalid_code",
]);

/** How an answer to one of our requests is to be taken. */
export type Outcome =
  | { kind: "ok"; status: number }
  | { kind: "final"; code: ErrorCode; detail: string }
  | { kind: "retry"; code: ErrorCode; detail: string; afterMs?: number }
  /** 401 `invalid_token` (§4: final after one new handshake). */
  | { kind: "invalid_token"; detail: string };

/** `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3), in ms from `now`. */
export function retryAfterMs(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * §2/§6: classifies a peer's answer. `expected` are the success statuses for the
 * action (202 for notify/authorize/request/grant, 200 for verify, 201/200 for deliver).
 */
export function classifyAnswer(answer: PostAnswer, expected: readonly number[], now: number): Outcome {
  const { status } = answer;
  const body = (answer.json && typeof answer.json === "object" ? answer.json : {}) as Record<string, unknown>;
  const code = typeof body.error === "string" ? body.error : undefined;
  const description = typeof body.error_description === "string" ? body.error_description.slice(0, 300) : "";
  const detail = `${status}${code ? ` ${code}` : ""}${description ? `: ${description}` : ""}`;
  if (expected.includes(status)) return { kind: "ok", status };
  if (status === 429) {
    const afterMs = retryAfterMs(answer.headers.get("retry-after"), now);
    return { kind: "retry", code: "rate_limited", detail, ...(afterMs !== undefined ? { afterMs } : {}) };
  }
  if (status >= 500) {
    const afterMs = status === 503 ? retryAfterMs(answer.headers.get("retry-after"), now) : undefined;
    return { kind: "retry", code: code === "temporarily_unavailable" ? code : "server_error", detail, ...(afterMs !== undefined ? { afterMs } : {}) };
  }
  if (status === 401 || code === "invalid_token") return { kind: "invalid_token", detail };
  if (code && FINAL_CODES.has(code)) return { kind: "final", code: code as ErrorCode, detail };
  if (status >= 400) return { kind: "final", code: "bad_response", detail };
  // A 2xx or 3xx that is not what §2 says: the peer is confused; try again later.
  return { kind: "retry", code: "bad_response", detail };
}
