/**
 * The durable work queue: picks due jobs — deliveries (jobs/delivery.ts), dialbacks
 * (jobs/dialback.ts) and webhooks (jobs/webhook.ts) — from the store and runs them, so stored work resumes after a restart (§6
 * Durability). One timer for the earliest due item; `wake()` for new work. Beside it the
 * sweeper (jobs/sweeper.ts) removes finished work and expired secrets.
 */
import { QUEUE_BATCH, QUEUE_CONCURRENCY, QUEUE_ERROR_RETRY_MS } from "../../limits.js";
import type { Engine } from "../engine.js";
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

  constructor(engine: Engine, concurrency = QUEUE_CONCURRENCY) {
    this.#engine = engine;
    this.#concurrency = concurrency;
    this.#sweeper = new Sweeper(engine.store, () => engine.now(), engine.log);
  }

  start(): void {
    this.#stopped = false;
    this.#sweeper.start();
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
        for (const doc of deliveries) this.#run(`d ${doc._id}`, () => runDelivery(this.#engine, doc));
        for (const doc of handshakes) this.#run(`h ${doc._id}`, () => runDialback(this.#engine, doc));
        const webhooks = await this.#engine.store.find<WebhookDoc>("webhooks", { where: { status: "pending" }, ...due });
        for (const doc of webhooks) this.#run(`w ${doc._id}`, () => runWebhook(this.#engine, doc));
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
    }
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
    if (times.length === 0) return;
    const earliest = Math.min(...times);
    // Work due now is running or waiting for a slot, and a finishing item wakes the queue:
    // a timer here would only re-run these queries every few milliseconds.
    if (earliest <= this.#engine.now() && this.#running.size > 0) return;
    this.#armIn(Math.max(0, earliest - this.#engine.now()));
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
    if (this.#timer) clearTimeout(this.#timer);
    this.#changed();
    const running = Promise.allSettled([...this.#running.values(), this.#sweeper.stop()]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([running, new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    if (timer) clearTimeout(timer);
  }
}
