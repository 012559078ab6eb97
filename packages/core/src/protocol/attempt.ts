/**
 * The one lifecycle of an outgoing attempt (PROTOCOL.md §6 "Retries"), shared by the
 * three kinds of job that make them — jobs/delivery.ts (§3/§4 steps 1, 2 and 6),
 * jobs/dialback.ts (steps 3–4) and jobs/webhook.ts — so a rule about retrying lands once:
 *
 * 1. try: `discoverAttempt` (§1) or `postAttempt` / `webhookAttempt` (one POST through
 *    the guarded client); a network failure is an outcome, never a throw;
 * 2. classify: retry.ts `classifyAnswer` / `classifyWebhookAnswer` / `classifyFailure`;
 * 3. back off or give up: `planRetry` (retry.ts `nextTry`: back-off with a floor that a
 *    `Retry-After` can lengthen but never shorten, the horizon, the attempt cap).
 *
 * Each job module only applies the result to its own document.
 *
 * A job passes its `Lease` (jobs/queue.ts) to each attempt: a request starts only once
 * `lease.ensure()` says the lease outlasts it, and carries `lease.signal`, which cuts it
 * before the lease could run out. A `LeaseLost` is not an outcome: it is thrown on, and
 * the job's try ends without writing.
 */
import type { Discovery } from "../discovery/discover.js";
import { discoverStep, LeaseLost, NO_LEASE, postStep, type Engine, type Lease, type StepContext } from "./engine.js";
import { classifyAnswer, classifyFailure, classifyWebhookAnswer, type Failure, type JobKind, nextTry, type Outcome } from "@indiepm/protocol";

/** A try that succeeded, with what came back. */
export interface Success<T> {
  kind: "ok";
  value: T;
}

/**
 * §1 discovery as an attempt: the endpoint `site` names, or a failure. A page that names
 * no endpoint is final (`no_endpoint`), and so is a final 4xx other than 408/429 (§6).
 * With `cached` (§3/§4 step 1 only), an endpoint the page let us keep is reused without
 * a request, and `cached` on the answer says so; a fresh discovery refreshes the entry.
 */
export async function discoverAttempt(
  engine: Engine,
  site: string,
  ctx: StepContext,
  /** A further check of what was found (§6 Identity at step 3); a `Failure` it returns is the outcome. */
  check?: (found: Discovery) => Failure | undefined,
  options: { cached?: boolean; lease?: Lease } = {},
): Promise<(Success<string> & { cached: boolean }) | Failure> {
  if (options.cached) {
    const endpoint = engine.discoveryCache.get(site, engine.now());
    if (endpoint !== undefined) return { kind: "ok", value: endpoint, cached: true };
  }
  const lease = options.lease ?? NO_LEASE;
  await lease.ensure();
  let found: Discovery;
  try {
    found = await discoverStep(engine, site, ctx, lease.signal);
  } catch (error) {
    if (error instanceof LeaseLost) throw error;
    if (options.cached) engine.discoveryCache.delete(site);
    return classifyFailure(error);
  }
  if (options.cached) engine.discoveryCache.set(site, found.endpoint ?? "", found.endpoint ? (found.cacheForMs ?? 0) : 0, engine.now());
  const refused = check?.(found);
  if (refused) return refused;
  if (!found.endpoint) return { kind: "final", code: "no_endpoint", detail: `${site} names no rel=pm endpoint.` };
  return { kind: "ok", value: found.endpoint, cached: false };
}

/**
 * PROTOCOL.md §1: "Before refusing anything because a cached endpoint does not match, it
 * MUST discover once more without the cache." After a failed POST to an endpoint that
 * came from the cache, the entry goes; `true` when the failure may be the endpoint's
 * having moved (no answer, a refusal, a 401), so the job should discover afresh now
 * rather than settle. A live endpoint asking to wait (429, 5xx) is retried as usual.
 */
export function staleCachedEndpoint(engine: Engine, site: string, failure: Failure): boolean {
  engine.discoveryCache.delete(site);
  return !(failure.kind === "retry" && (failure.code === "rate_limited" || failure.code === "server_error" || failure.code === "temporarily_unavailable"));
}

/** How an attempt's request runs: its extra headers, and the job's lease (ensured first, its signal carried), or only a signal (a step whose lease the job ensured itself). */
export interface StepOptions {
  headers?: Record<string, string>;
  lease?: Lease;
  signal?: AbortSignal | undefined;
}

/**
 * §2: one federation POST, traced, and what its answer means. `expected` are the success
 * statuses of the action; `json` is the answer's body on success.
 */
export async function postAttempt(
  engine: Engine,
  url: string,
  form: URLSearchParams,
  ctx: StepContext,
  expected: readonly number[],
  options: StepOptions = {},
): Promise<Success<unknown> | Failure> {
  await options.lease?.ensure();
  let outcome: Outcome;
  let json: unknown;
  try {
    const answer = await postStep(engine, url, form, ctx, options.headers, options.lease?.signal ?? options.signal);
    outcome = classifyAnswer(answer, expected, engine.now());
    json = answer.json;
  } catch (error) {
    if (error instanceof LeaseLost) throw error;
    return classifyFailure(error);
  }
  return outcome.kind === "ok" ? { kind: "ok", value: json } : outcome;
}

/** The owner's webhook: one JSON POST through the guarded client (§6 "Outgoing requests"); `lease`: the job's (the owner's test has none). */
export async function webhookAttempt(engine: Engine, url: string, payload: unknown, lease: Lease = NO_LEASE): Promise<Success<number> | Failure> {
  if (!engine.http.postJson) return { kind: "final", code: "invalid_config", detail: "The outbound HTTP client cannot POST JSON (it has no postJson)." };
  await lease.ensure();
  try {
    const outcome = classifyWebhookAnswer(await engine.http.postJson(url, payload, lease.signal ? { signal: lease.signal } : {}), engine.now());
    return outcome.kind === "ok" ? { kind: "ok", value: outcome.status } : outcome;
  } catch (error) {
    if (error instanceof LeaseLost) throw error;
    return classifyFailure(error);
  }
}

/** What a job does after a retryable failure: its next try at `at`, or give up with `detail`. */
export type Plan = { kind: "retry"; at: number } | { kind: "give-up"; detail: string };

/**
 * §6: when the `job` that has failed `attempts` times since `firstTriedAt` tries next
 * after `failure`, or that it gives up (the detail then says why, and what failed last).
 */
export function planRetry(
  engine: Engine,
  job: JobKind,
  progress: { attempts: number; firstTriedAt: number },
  failure: { detail: string; afterMs?: number },
): Plan {
  const now = engine.now();
  const next = nextTry(job, progress, failure.afterMs, engine.retry, now, engine.random);
  if (next.kind === "give-up") return { kind: "give-up", detail: `Gave up retrying ${next.why}; last: ${failure.detail}` };
  return { kind: "retry", at: now + next.delayMs };
}
