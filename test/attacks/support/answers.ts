/**
 * PROTOCOL.md §2 "Requests and answers" as an oracle for the attack suites: is an
 * answer one that the tables allow, and one that fits the request that was sent? The
 * fuzzer runs every answer through `judgeAnswer`; a `problem` fails the run.
 */
import { ERROR_STATUS } from "@indiepm/core";

export type Action = "notify" | "authorize" | "verify" | "request" | "grant" | "deliver";
export const ACTIONS: readonly Action[] = ["notify", "authorize", "verify", "request", "grant", "deliver"];

/** An answer as it came off the wire. */
export interface WireAnswer {
  status: number;
  headers: Headers;
  text: string;
}

/** What was sent, as far as the oracle needs it. */
export interface SentRequest {
  contentType: string | undefined;
  body: Uint8Array;
}

export interface Judgement {
  /** `STATUS what`, e.g. `202 accepted`, `400 invalid_request`: what the counts are kept by. */
  label: string;
  /** Why the answer is not one §2 allows for this request; absent when it is. */
  problem?: string;
}

/** Any request may be refused for its size or its form (§2 check order: these come first). */
const ALWAYS = ["413 too_large", "400 invalid_request"];

/**
 * §2–§5, §7: the answers each action may get once its form parsed. `503` is legitimate
 * only where the server must fetch something it could not (step 5 of `request`/`grant`;
 * the vouch page of a `notify`/`authorize`); `429` only for the two rate-limited actions.
 */
export const ANSWERS_BY_ACTION: Readonly<Record<Action, readonly string[]>> = {
  notify: ["202 accepted", "404 unknown_recipient", "403 forbidden", "429 rate_limited", "503 temporarily_unavailable"],
  authorize: ["202 accepted", "404 unknown_recipient", "403 forbidden", "429 rate_limited", "503 temporarily_unavailable"],
  verify: ["200 valid", "404 unknown_message", "400 invalid_code"],
  request: ["202 accepted", "404 unknown_message", "409 endpoint_mismatch", "503 temporarily_unavailable"],
  grant: ["202 accepted", "400 invalid_code", "409 endpoint_mismatch", "503 temporarily_unavailable"],
  deliver: ["201 delivered", "200 duplicate", "401 invalid_token", "404 unknown_recipient", "403 forbidden"],
};

const SUCCESSES: ReadonlyArray<{ status: number; body: Record<string, unknown>; label: string }> = [
  { status: 202, body: { status: "accepted" }, label: "202 accepted" },
  { status: 200, body: { valid: true }, label: "200 valid" },
  { status: 201, body: { status: "delivered" }, label: "201 delivered" },
  { status: 200, body: { status: "duplicate" }, label: "200 duplicate" },
];

/** The form type, compared as §2 says (parameters such as charset allowed), written independently of the engine's check. */
export function isFormType(contentType: string | undefined): boolean {
  return (contentType ?? "").split(";")[0]!.trim().toLowerCase() === "application/x-www-form-urlencoded";
}

/** The `action` values of a body, decoded leniently (as a browser would): what the server must have seen if it parsed it. */
export function actionsOf(body: Uint8Array): string[] {
  return new URLSearchParams(new TextDecoder().decode(body)).getAll("action");
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Judges one answer: its shape against the §2 tables, then its fit with the request —
 * an oversized body is 413, a body that is not a form is 400, and anything past the
 * form check belongs to the one `action` the body names.
 */
export function judgeAnswer(answer: WireAnswer, sent: SentRequest, maxBodyBytes: number): Judgement {
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    return { label: `${answer.status} not-json`, problem: `the answer is not JSON: ${JSON.stringify(answer.text.slice(0, 200))}` };
  }
  if (!/^application\/json\b/i.test(answer.headers.get("content-type") ?? "")) {
    return { label: `${answer.status} bad-content-type`, problem: `the answer's Content-Type is ${answer.headers.get("content-type")}` };
  }
  const judged = judgeShape(answer, body);
  if (judged.problem) return judged;
  const { label } = judged;
  if (sent.body.byteLength > maxBodyBytes) {
    return label === "413 too_large" ? judged : { label, problem: `a body of ${sent.body.byteLength} bytes got ${label}, not 413 too_large` };
  }
  if (ALWAYS.includes(label)) return judged;
  if (!isFormType(sent.contentType)) return { label, problem: `a body of type ${JSON.stringify(sent.contentType)} got ${label}, not 400 invalid_request` };
  const actions = actionsOf(sent.body);
  if (actions.length !== 1 || !(ACTIONS as readonly string[]).includes(actions[0]!)) {
    return { label, problem: `a body naming action ${JSON.stringify(actions)} got ${label}` };
  }
  const action = actions[0] as Action;
  if (!ANSWERS_BY_ACTION[action].includes(label)) return { label, problem: `${action} got ${label}, which §2 does not give to ${action}` };
  return judged;
}

/** The §2 shape alone: an error `{error, error_description}` with its status and headers, or one of the four successes. */
export function judgeShape(answer: Pick<WireAnswer, "status" | "headers">, body: unknown): Judgement {
  const { status, headers } = answer;
  if (typeof body !== "object" || body === null || Array.isArray(body)) return { label: `${status} not-an-object`, problem: "the answer is not a JSON object" };
  const record = body as Record<string, unknown>;
  if ("error" in record) {
    const code = record.error;
    const label = `${status} ${String(code)}`;
    const keys = Object.keys(record).sort();
    if (!sameJson(keys, ["error", "error_description"])) return { label, problem: `the error has the members ${JSON.stringify(keys)}` };
    if (typeof code !== "string" || !Object.hasOwn(ERROR_STATUS, code)) return { label, problem: `${JSON.stringify(code)} is not a §2 error code` };
    const expected = ERROR_STATUS[code as keyof typeof ERROR_STATUS];
    if (status !== expected) return { label, problem: `${code} came with ${status}, §2 says ${expected}` };
    if (typeof record.error_description !== "string" || record.error_description.trim() === "") return { label, problem: "error_description is empty" };
    if (status >= 500 && status !== 503) return { label, problem: `a ${status}: the server failed` };
    if (code === "invalid_token" && !/^Bearer error="invalid_token"/.test(headers.get("www-authenticate") ?? "")) {
      return { label, problem: '401 without WWW-Authenticate: Bearer error="invalid_token"' };
    }
    if (code === "rate_limited" && !/^\d+$/.test(headers.get("retry-after") ?? "")) return { label, problem: "429 without Retry-After in seconds" };
    return { label };
  }
  const success = SUCCESSES.find((s) => s.status === status && sameJson(body, s.body));
  if (!success) return { label: `${status} unknown-success`, problem: `${status} ${JSON.stringify(body).slice(0, 200)} is neither a §2 error nor a §2 answer` };
  return { label: success.label };
}
