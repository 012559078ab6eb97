/**
 * What every protocol module shares: configuration, the store, the outbound client
 * wrapped so each request becomes a traced protocol step, and the clock.
 */
import type { Logger } from "../api.js";
import type { DiscoveryCache } from "../discovery/cache.js";
import { discoverEndpoint, type Discovery } from "../discovery/discover.js";
import { PmError, type ErrorCode } from "../errors.js";
import type { HttpClient, PostAnswer } from "../http/types.js";
import type { HtmlSanitizer } from "../sanitize.js";
import type { Store } from "../store/types.js";
import type { DeliverReadCache } from "./deliver-reads.js";
import type { ChatWrites } from "../owner/chats.js";
import type { Flow, ProtocolEvent } from "../types.js";
import type { UrlPolicy } from "../urls.js";
import type { RetrySchedule } from "@indiepm/protocol";

export interface Engine {
  /** Canonical E of this server. */
  endpoint: string;
  sites: ReadonlySet<string>;
  urlPolicy: UrlPolicy;
  store: Store;
  /** What `deliver`s were answered from, checked again by their writes (deliver-reads.ts); where the store can (`writeIfUnchanged`). */
  deliverReads?: DeliverReadCache;
  http: HttpClient;
  retry: RetrySchedule;
  grantLifetimeSeconds: number;
  /** §5 `content-html`: sanitizes received HTML off the event loop. */
  sanitizer: HtmlSanitizer;
  now(): number;
  random(): number;
  log: Logger;
  emit(event: ProtocolEvent): void;
  /** Asks the queue to look for due work now. */
  wake(): void;
  /**
   * A site became a correspondent: a message from it was stored (§5), or this server's page
   * discovery for a recipient found its endpoint. The server may then read who they are
   * (owner/profiles.ts). A site that only named itself in a request is not one: reading it
   * would let any stranger make this server fetch any page.
   */
  correspondent?(site: string): void;
  /** Per (S, R, E_R): the chain that serializes this engine's §4 handshakes (jobs/delivery.ts). */
  handshakeLocks: Map<string, Promise<void>>;
  /** §1: the endpoints recipients' pages let us reuse, for §3/§4 step 1 only (discovery/cache.ts, protocol/attempt.ts). */
  discoveryCache: DiscoveryCache;
  /** Per received message: its `content-html` being sanitized, which a retried `deliver` waits for (actions/deliver.ts). */
  sanitizing: Map<string, { html: string; done: Promise<string> }>;
  /** This server's writes of chat summaries, one at a time per chat on a store one process holds (owner/chats.ts); the owner side's too. */
  chatWrites?: ChatWrites;
}

/**
 * A running job's hold on it, for its network steps (jobs/queue.ts `runLeased` makes the
 * real one, on a store several processes share; `NO_LEASE` elsewhere). A job passes it to
 * every attempt (protocol/attempt.ts), which calls `ensure()` before the request and hands
 * `signal` to the guarded client, so no other process can start the same step while this
 * one's request may still be under way.
 */
export interface Lease {
  /**
   * Aborted, with a `LeaseLost` as its reason, a margin before the lease could run out
   * without a renewal (`LEASE_MARGIN_MS`): the request under way is cut then. Undefined
   * without a lease.
   */
  readonly signal: AbortSignal | undefined;
  /**
   * Before a network step: resolves when the lease has at least one step's time and the
   * margin left (`LEASE_STEP_MS` + `LEASE_MARGIN_MS`), renewing it first when it has less;
   * throws `LeaseLost` when it cannot be renewed (the database unreachable, the job no
   * longer this process's) or `signal` has fired. The try then ends without writing: the
   * job is due again at the lease's end, for any process.
   */
  ensure(): Promise<void>;
}

/** A job's lease could not be kept (`Lease.ensure`, `Lease.signal`): its try ends here, writing nothing. */
export class LeaseLost extends Error {
  override readonly name = "LeaseLost";
}

/** The lease of a job on a store of one process: nothing else runs it, so nothing to ensure or cut. */
export const NO_LEASE: Lease = { signal: undefined, ensure: async () => {} };

export interface StepContext {
  flow: Flow;
  step: number;
  message?: string;
  sender?: string;
  recipient?: string;
}

/** §1 discovery as a traced step; `signal` (a job's lease) cuts it short. */
export async function discoverStep(engine: Engine, site: string, ctx: StepContext, signal?: AbortSignal): Promise<Discovery> {
  try {
    const found = await discoverEndpoint(site, engine.http, engine.urlPolicy, {}, signal);
    engine.emit({
      ...ctx,
      action: "discover",
      from: engine.endpoint,
      to: site,
      status: 200,
      ...(found.endpoint ? { detail: `rel=pm → ${found.endpoint}` } : { detail: NO_ENDPOINT_DETAIL }),
    });
    return found;
  } catch (error) {
    engine.emit({
      ...ctx,
      action: "discover",
      from: engine.endpoint,
      to: site,
      status: stepErrorCode(error),
      detail: error instanceof Error ? error.message : String(error),
    });
    throw error;
  }
}

/** The `detail` of a `discover` event whose page named no endpoint (§1 step 5). */
export const NO_ENDPOINT_DETAIL = "no rel=pm";

/**
 * §2: one outgoing federation POST as a traced step. Network failures throw PmError; a
 * fired `signal` (a job's lease) throws its reason, a `LeaseLost`.
 */
export async function postStep(
  engine: Engine,
  url: string,
  form: URLSearchParams,
  ctx: StepContext,
  headers?: Record<string, string>,
  signal?: AbortSignal,
): Promise<PostAnswer> {
  const action = form.get("action") as ProtocolEvent["action"];
  try {
    const answer = await engine.http.postForm(url, form, { ...(headers ? { headers } : {}), ...(signal ? { signal } : {}) });
    engine.emit({ ...ctx, action, from: engine.endpoint, to: url, status: answer.status });
    return answer;
  } catch (error) {
    engine.emit({
      ...ctx,
      action,
      from: engine.endpoint,
      to: url,
      status: stepErrorCode(error),
      detail: error instanceof Error ? error.message : String(error),
    });
    throw error;
  }
}

/** The status a traced step's event gives a failure: a request cut by its lease is a `timeout` (cut for time). */
function stepErrorCode(error: unknown): ErrorCode {
  return error instanceof PmError ? error.code : error instanceof LeaseLost ? "timeout" : "network_error";
}

/** The compare-and-set on `rev` the protocol modules use: store/mutate.ts (owner/ uses it too). */
export { mutate } from "../store/mutate.js";

export function errorCodeOf(error: unknown): ErrorCode {
  return error instanceof PmError ? error.code : "network_error";
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
