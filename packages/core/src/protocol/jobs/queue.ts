/**
 * The durable work queue: picks due jobs — deliveries (jobs/delivery.ts), dialbacks
 * (jobs/dialback.ts) and webhooks (jobs/webhook.ts) — from the store and runs them, so stored work resumes after a restart (§6
 * Durability). One timer for the earliest due item; `wake()` for new work. Beside it the
 * sweeper (jobs/sweeper.ts) removes finished work and expired secrets.
 *
 * On a store several processes share (`Store.shared`, issue 11) each job is leased before
 * it runs (`runLeased` below), so one process at a time runs it, and work any process adds
 * wakes this one (`SharedStore.onWork`). Without it (nedb, memory) nothing of that runs:
 * one process, and `#running` keeps a job from running twice in it.
 */
import { JOB_LEASE_MS, QUEUE_BATCH, QUEUE_CONCURRENCY, QUEUE_ERROR_RETRY_MS, SHARED_QUEUE_POLL_MS } from "../../limits.js";
import type { Changes, SharedStore } from "../../store/types.js";
import { mutate, type Engine } from "../engine.js";
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
  readonly #leaseMs: number;
  /** Ends the `onWork` subscription (shared stores, while started). */
  #unsubscribe: (() => void) | undefined;

  constructor(engine: Engine, concurrency = QUEUE_CONCURRENCY, leaseMs = JOB_LEASE_MS) {
    this.#engine = engine;
    this.#concurrency = concurrency;
    this.#leaseMs = leaseMs;
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
              (d) => runDelivery(this.#engine, d),
            ),
          );
        for (const doc of handshakes)
          this.#run(`h ${doc._id}`, () =>
            this.#leased(
              "handshakes",
              doc,
              (d) => d.state === "active",
              (d) => runDialback(this.#engine, d),
            ),
          );
        const webhooks = await this.#engine.store.find<WebhookDoc>("webhooks", { where: { status: "pending" }, ...due });
        for (const doc of webhooks)
          this.#run(`w ${doc._id}`, () =>
            this.#leased(
              "webhooks",
              doc,
              (d) => d.status === "pending",
              (d) => runWebhook(this.#engine, d),
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

  /** Runs a due job: at once on a store of one process; on a shared store only once its lease is taken (`runLeased`). */
  #leased<T extends LeasedJob>(collection: JobCollection, doc: T, pending: (doc: T) => boolean, run: (doc: T) => Promise<void>): Promise<void> {
    const shared = this.#engine.store.shared;
    if (!shared) return run(doc);
    return runLeased(this.#engine, shared, collection, doc, pending, run, this.#leaseMs);
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
 */
export async function runLeased<T extends LeasedJob>(
  engine: Engine,
  shared: SharedStore,
  collection: JobCollection,
  doc: T,
  pending: (doc: T) => boolean,
  run: (doc: T) => Promise<void>,
  leaseMs = JOB_LEASE_MS,
): Promise<void> {
  const now = engine.now();
  let held = now + leaseMs;
  const taken = await mutate<T>(engine.store, collection, doc._id, (d) =>
    pending(d) && d.nextAttemptAt <= now ? ({ nextAttemptAt: held, leasedBy: shared.instance } as Changes<T>) : null,
  );
  if (!taken) return;
  let renewing = false;
  const renew = async (): Promise<void> => {
    if (renewing) return;
    renewing = true;
    const next = engine.now() + leaseMs;
    try {
      const patch = { set: { nextAttemptAt: next } as Partial<T> };
      if (await engine.store.update<T>(collection, doc._id, patch, { nextAttemptAt: held, leasedBy: shared.instance })) held = next;
      else clearInterval(timer); // the job moved on (or the lease was lost): nothing more to hold
    } catch (error) {
      engine.log.warn("could not renew a job's lease", { collection, id: doc._id, error: error instanceof Error ? error.message : String(error) });
    } finally {
      renewing = false;
    }
  };
  const timer = setInterval(() => void renew(), Math.max(1, Math.floor(leaseMs / 3)));
  timer.unref();
  try {
    await run(taken);
  } finally {
    clearInterval(timer);
  }
}
