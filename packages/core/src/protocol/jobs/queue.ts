/**
 * The durable work queue: picks due jobs — deliveries (jobs/delivery.ts), dialbacks
 * (jobs/dialback.ts) and webhooks (jobs/webhook.ts) — from the store and runs them, so stored work resumes after a restart (§6
 * Durability). One timer for the earliest due item; `wake()` for new work. Beside it the
 * sweeper (jobs/sweeper.ts) removes finished work and expired secrets.
 *
 * On a store several processes share (`Store.shared`, issue 11) each job is leased before
 * it runs (`runLeased` below), so one process at a time runs it, and work any process adds
 * wakes this one (`SharedStore.onWork`); the job gets its `Lease`, which each of its requests
 * needs (no two processes have one job's request out at once). Without it (nedb, memory)
 * nothing of that runs: one process, `#running` keeps a job from running twice in it, and
 * the job gets `NO_LEASE`.
 */
import { JOB_LEASE_MS, LEASE_MARGIN_MS, LEASE_STEP_MS, QUEUE_BATCH, QUEUE_CONCURRENCY, QUEUE_ERROR_RETRY_MS, SHARED_QUEUE_POLL_MS } from "../../limits.js";
import type { Changes, SharedStore } from "../../store/types.js";
import { LeaseLost, mutate, NO_LEASE, type Engine, type Lease } from "../engine.js";
import type { DeliveryDoc, HandshakeDoc, WebhookDoc } from "../records.js";
import { runDelivery } from "./delivery.js";
import { runDialback } from "./dialback.js";
import { runWebhook } from "./webhook.js";
import { Sweeper } from "./sweeper.js";

export class WorkQueue {
  readonly #engine: Engine;
  readonly #concurrency: number;
  readonly #running = new Map<string, Promise<void>>();
  readonly #sweeper: Sweeper;
  #timer: NodeJS.Timeout | undefined;
  #scheduled = false;
  #ticking = false;
  #again = false;
  #stopped = true;
  /** Callers of `idle()` waiting for a tick or a work item to end. */
  #waiters: (() => void)[] = [];
  readonly #lease: LeaseTimes;
  /** Ends the `onWork` subscription (shared stores, while started). */
  #unsubscribe: (() => void) | undefined;

  constructor(engine: Engine, concurrency = QUEUE_CONCURRENCY, lease: LeaseTimes = LEASE_TIMES) {
    this.#engine = engine;
    this.#concurrency = concurrency;
    this.#lease = lease;
    this.#sweeper = new Sweeper(engine.store, () => engine.now(), engine.log);
  }

  start(): void {
    this.#stopped = false;
    this.#sweeper.start();
    // Work another process adds (or makes due sooner) is taken up at once, not at a poll.
    this.#unsubscribe ??= this.#engine.store.shared?.onWork(() => this.wake());
    this.wake();
  }

  wake(): void {
    if (this.#stopped || this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#tick();
    });
  }

  async #tick(): Promise<void> {
    if (this.#ticking) {
      this.#again = true;
      return;
    }
    this.#ticking = true;
    try {
      do {
        this.#again = false;
        if (this.#stopped) return;
        // The sweeper's own timer runs by the wall clock; a tick also runs it when due by the engine's.
        this.#sweeper.poke();
        const now = this.#engine.now();
        const due = { range: { field: "nextAttemptAt", lte: now }, sort: { field: "nextAttemptAt", order: "asc" as const }, limit: QUEUE_BATCH };
        const deliveries = await this.#engine.store.find<DeliveryDoc>("deliveries", { where: { status: "pending" }, ...due });
        const handshakes = await this.#engine.store.find<HandshakeDoc>("handshakes", { where: { state: "active" }, ...due });
        for (const doc of deliveries)
          this.#run(`d ${doc._id}`, () =>
            this.#leased(
              "deliveries",
              doc,
              (d) => d.status === "pending",
              (d, lease) => runDelivery(this.#engine, d, lease),
            ),
          );
        for (const doc of handshakes)
          this.#run(`h ${doc._id}`, () =>
            this.#leased(
              "handshakes",
              doc,
              (d) => d.state === "active",
              (d, lease) => runDialback(this.#engine, d, lease),
            ),
          );
        const webhooks = await this.#engine.store.find<WebhookDoc>("webhooks", { where: { status: "pending" }, ...due });
        for (const doc of webhooks)
          this.#run(`w ${doc._id}`, () =>
            this.#leased(
              "webhooks",
              doc,
              (d) => d.status === "pending",
              (d, lease) => runWebhook(this.#engine, d, lease),
            ),
          );
      } while (this.#again);
      await this.#arm();
    } catch (error) {
      if (!this.#stopped) {
        this.#engine.log.error("work queue failed", { error: error instanceof Error ? error.message : String(error) });
        this.#armIn(QUEUE_ERROR_RETRY_MS);
      }
    } finally {
      this.#ticking = false;
      this.#changed();
      // A wake while `#arm` looked for the next due time was only noted: its answer may
      // predate the work that woke us (on a shared store, a lease 30 s ahead). Look again.
      if (this.#again) this.wake();
    }
  }

  /** Runs a due job: at once on a store of one process (`NO_LEASE`); on a shared store only once its lease is taken (`runLeased`). */
  #leased<T extends LeasedJob>(collection: JobCollection, doc: T, pending: (doc: T) => boolean, run: (doc: T, lease: Lease) => Promise<void>): Promise<void> {
    const shared = this.#engine.store.shared;
    if (!shared) return run(doc, NO_LEASE);
    return runLeased(this.#engine, shared, collection, doc, pending, run, this.#lease);
  }

  #run(key: string, task: () => Promise<void>): void {
    if (this.#running.has(key) || this.#running.size >= this.#concurrency) return;
    const done = task()
      .catch((error: unknown) =>
        this.#engine.log.error("work item failed", { key, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
      )
      .finally(() => {
        this.#running.delete(key);
        this.wake();
        this.#changed();
      });
    this.#running.set(key, done);
  }

  /** Sets the timer for the earliest pending item. */
  async #arm(): Promise<void> {
    const next = async (collection: "deliveries" | "handshakes" | "webhooks", where: Record<string, string>) =>
      (
        await this.#engine.store.find<{ _id: string; nextAttemptAt: number }>(collection, { where, sort: { field: "nextAttemptAt", order: "asc" }, limit: 1 })
      )[0]?.nextAttemptAt;
    const times = [
      await next("deliveries", { status: "pending" }),
      await next("handshakes", { state: "active" }),
      await next("webhooks", { status: "pending" }),
    ].filter((t): t is number => t !== undefined);
    // A shared store: look again at least every SHARED_QUEUE_POLL_MS, for work whose notification was missed.
    const poll = this.#engine.store.shared ? SHARED_QUEUE_POLL_MS : Number.POSITIVE_INFINITY;
    if (times.length === 0) {
      if (poll !== Number.POSITIVE_INFINITY) this.#armIn(poll);
      return;
    }
    const earliest = Math.min(...times);
    // Work due now is running or waiting for a slot, and a finishing item wakes the queue:
    // a timer here would only re-run these queries every few milliseconds.
    if (earliest <= this.#engine.now() && this.#running.size > 0) return;
    this.#armIn(Math.min(poll, Math.max(0, earliest - this.#engine.now())));
  }

  #armIn(ms: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.wake(), Math.min(ms + 5, 2 ** 31 - 1));
    this.#timer.unref();
  }

  /**
   * Resolves once the queue is settled (PmServer.idle): no tick and no work item running,
   * no wake pending, no sweep under way, and nothing due now by the engine's clock that
   * is not running (work due is started now rather than at its timer). Work due later
   * (a back-off) does not count.
   */
  async idle(): Promise<void> {
    for (;;) {
      // Yield once to the check phase: a wake an answer deferred with `setImmediate`
      // before this call (actions/request.ts, actions/grant.ts) has run when this resumes.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.#stopped) return;
      if (this.#scheduled || this.#ticking || this.#running.size > 0) {
        await new Promise<void>((resolve) => this.#waiters.push(resolve));
        continue;
      }
      const sweeping = this.#sweeper.running;
      if (sweeping) {
        await sweeping;
        continue;
      }
      if (!(await this.#anythingDue())) return;
      this.wake();
    }
  }

  /** Whether a pending delivery, active handshake or pending webhook is due now. */
  async #anythingDue(): Promise<boolean> {
    const due = { range: { field: "nextAttemptAt", lte: this.#engine.now() }, limit: 1 };
    const found = await Promise.all([
      this.#engine.store.find("deliveries", { where: { status: "pending" }, ...due }),
      this.#engine.store.find("handshakes", { where: { state: "active" }, ...due }),
      this.#engine.store.find("webhooks", { where: { status: "pending" }, ...due }),
    ]);
    return found.some((docs) => docs.length > 0);
  }

  #changed(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const resolve of waiters) resolve();
  }

  /** Stops taking work and waits (at most `graceMs`) for what is running. */
  async stop(graceMs: number): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    if (this.#timer) clearTimeout(this.#timer);
    this.#changed();
    const running = Promise.allSettled([...this.#running.values(), this.#sweeper.stop()]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([running, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    if (timer) clearTimeout(timer);
  }
}

type JobCollection = "deliveries" | "handshakes" | "webhooks";
/** What the three jobs share: a `rev` (`mutate`), when they are due, and who holds their lease. */
type LeasedJob = { _id: string; rev: number; nextAttemptAt: number; leasedBy?: string };

/** How a lease is kept (limits.ts): its length, how long before its end the holder stops, and the longest request it must outlast. Tests shorten them. */
export interface LeaseTimes {
  leaseMs: number;
  marginMs: number;
  stepMs: number;
}

export const LEASE_TIMES: Readonly<LeaseTimes> = Object.freeze({ leaseMs: JOB_LEASE_MS, marginMs: LEASE_MARGIN_MS, stepMs: LEASE_STEP_MS });

/**
 * Several processes on one store: runs a due job only if this process takes its lease.
 * The lease is a compare-and-set on the document (`mutate`, by `rev`): still `pending`
 * (`active`) and still due, it moves `nextAttemptAt` to now + `leaseMs` and records
 * `leasedBy`; a process that lost the race skips the job (another runs it). While the job
 * runs, the lease is renewed every third of `leaseMs`, but only while `nextAttemptAt` is
 * still the lease this process set (a compare-and-set on `nextAttemptAt` and `leasedBy`
 * alone, not on `rev`: it changes nothing the job reads, so the job's own rev-guarded
 * writes stay valid). Every write a job ends a try with sets `nextAttemptAt` (a back-off,
 * the §6 wait, now) or a final status, which ends the lease. A process that dies, or a job
 * that throws, leaves the lease to run out: the job is due again then, for any process.
 *
 * No two processes have a request of one job out at once (issue 11): another process may
 * take the job once the lease's end has passed by its clock, so the holder (the `Lease` the
 * job gets) starts a request only while the lease it last wrote has `stepMs` + `marginMs`
 * left, renewing first when it has less (`ensure`), and aborts a request under way
 * `marginMs` before that end (`signal`) unless a renewal moved it. A renewal that fails
 * (the database unreachable) changes neither: the holder only knows the end it wrote. A job
 * that cannot keep its lease (`LeaseLost`) ends its try writing nothing, and is due again
 * at the lease's end. This holds while the instances' clocks differ by less than `marginMs`
 * (less the holder's timer lag); on one machine they do not differ. A job whose own write
 * ends the lease before a request (notify's and authorize's wait for step 3–5) ensures it
 * before that write, and its request runs on what was left.
 */
export async function runLeased<T extends LeasedJob>(
  engine: Engine,
  shared: SharedStore,
  collection: JobCollection,
  doc: T,
  pending: (doc: T) => boolean,
  run: (doc: T, lease: Lease) => Promise<void>,
  times: LeaseTimes = LEASE_TIMES,
): Promise<void> {
  const { leaseMs, marginMs, stepMs } = times;
  if (!(stepMs + marginMs < leaseMs)) throw new Error(`A job's lease (${leaseMs} ms) must outlast one request (${stepMs} ms) and the margin (${marginMs} ms).`);
  const now = engine.now();
  let held = now + leaseMs;
  const taken = await mutate<T>(engine.store, collection, doc._id, (d) =>
    pending(d) && d.nextAttemptAt <= now ? ({ nextAttemptAt: held, leasedBy: shared.instance } as Changes<T>) : null,
  );
  if (!taken) return;
  const what = `${collection} ${doc._id}`;
  const stop = new AbortController();
  let expiry: NodeJS.Timeout | undefined;
  /** Cuts whatever request is under way `marginMs` before the end of the lease as last written. */
  const armExpiry = () => {
    clearTimeout(expiry);
    const end = held;
    expiry = setTimeout(
      () => {
        stop.abort(new LeaseLost(`The lease of ${what} could not be renewed before ${new Date(end).toISOString()}: its try stops ${marginMs} ms before.`));
        // No request of this try may start any more: holding the job longer would only keep it from the others.
        clearInterval(timer);
      },
      Math.max(0, end - marginMs - engine.now()),
    );
    expiry.unref();
  };
  /** False once a renewal found the lease gone (the job moved on, or another process took it): nothing more to renew. */
  let renewable = true;
  let renewal: Promise<void> | undefined;
  const renew = (): Promise<void> =>
    (renewal ??= (async () => {
      const next = engine.now() + leaseMs;
      try {
        const patch = { set: { nextAttemptAt: next } as Partial<T> };
        if (await engine.store.update<T>(collection, doc._id, patch, { nextAttemptAt: held, leasedBy: shared.instance })) {
          held = next;
          if (!stop.signal.aborted) armExpiry();
        } else {
          renewable = false;
          clearInterval(timer);
        }
      } catch (error) {
        engine.log.warn("could not renew a job's lease", { collection, id: doc._id, error: error instanceof Error ? error.message : String(error) });
      } finally {
        renewal = undefined;
      }
    })());
  const timer = setInterval(() => void renew(), Math.max(1, Math.floor(leaseMs / 3)));
  timer.unref();
  armExpiry();
  const lease: Lease = {
    signal: stop.signal,
    async ensure() {
      if (!stop.signal.aborted && held - engine.now() < stepMs + marginMs && renewable) await renew();
      if (stop.signal.aborted) throw stop.signal.reason;
      const left = held - engine.now();
      if (left < stepMs + marginMs) {
        throw new LeaseLost(`The lease of ${what} has ${Math.max(0, left)} ms left and could not be renewed: no request starts that could outlast it.`);
      }
    },
  };
  try {
    await run(taken, lease);
  } catch (error) {
    if (!(error instanceof LeaseLost)) throw error;
    // Nothing written: the job is due again at the lease's end, for whichever process takes it.
    engine.log.warn("gave up a job's try: its lease could not be kept", { collection, id: doc._id, detail: error.message });
  } finally {
    clearInterval(timer);
    clearTimeout(expiry);
  }
}
