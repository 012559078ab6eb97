/**
 * What nobody needs any more leaves the store (issue 9 item 4): finished handshakes
 * (§3/§4 steps 3–4, `done` or `failed`) and expired codes and tokens (§6 Secrets). Without
 * it every notify a stranger sends stays on disk for good. Run by the work queue
 * (jobs/queue.ts) every `SWEEP_INTERVAL_MS`, by its clock.
 *
 * Several processes sharing a store (`Store.shared`) each sweep, unaware of the others,
 * and that is safe: every remove is a compare-and-remove, so two sweeps reading one
 * document remove it once, and neither removes one that changed since it was read.
 */
import type { Logger } from "../../api.js";
import { EXPIRED_SECRET_KEEP_MS, FINISHED_HANDSHAKE_KEEP_MS, SWEEP_BATCH, SWEEP_INTERVAL_MS } from "../../limits.js";
import type { HandshakeDoc, SecretDoc } from "../records.js";
import type { CollectionName, Store } from "../../store/types.js";

const SWEPT: readonly CollectionName[] = ["handshakes", "secrets"];

export interface SweepCounts {
  handshakes: number;
  secrets: number;
}

/**
 * One sweep at `now`: removes handshakes finished more than `FINISHED_HANDSHAKE_KEEP_MS`
 * ago and secrets expired more than `EXPIRED_SECRET_KEEP_MS` ago, each only if unchanged
 * since it was read (a notify may start a failed handshake again meanwhile); then, when
 * anything went, rewrites those datafiles (nedb) so the disk shrinks too.
 */
export async function sweepStore(store: Store, now: number): Promise<SweepCounts> {
  const counts: SweepCounts = { handshakes: 0, secrets: 0 };
  for (const state of ["done", "failed"] as const) {
    for (;;) {
      const old = await store.find<HandshakeDoc>("handshakes", {
        where: { state },
        range: { field: "updatedAt", lte: now - FINISHED_HANDSHAKE_KEEP_MS },
        limit: SWEEP_BATCH,
      });
      for (const doc of old) if (await store.remove("handshakes", doc._id, { state, updatedAt: doc.updatedAt })) counts.handshakes++;
      if (old.length < SWEEP_BATCH) break;
    }
  }
  for (;;) {
    const old = await store.find<SecretDoc>("secrets", { range: { field: "expiresAt", lte: now - EXPIRED_SECRET_KEEP_MS }, limit: SWEEP_BATCH });
    for (const doc of old) if (await store.remove("secrets", doc._id, { expiresAt: doc.expiresAt })) counts.secrets++;
    if (old.length < SWEEP_BATCH) break;
  }
  if (counts.handshakes + counts.secrets > 0) await store.compact?.(SWEPT);
  return counts;
}

/** Runs `sweepStore` at most once per interval of `now()`: on its own timer, and whenever `poke()` finds it due. */
export class Sweeper {
  readonly #store: Store;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #intervalMs: number;
  #nextAt = 0;
  #running: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;

  constructor(store: Store, now: () => number, log: Logger, intervalMs = SWEEP_INTERVAL_MS) {
    this.#store = store;
    this.#now = now;
    this.#log = log;
    this.#intervalMs = intervalMs;
  }

  /** Sweeps now (what a previous run left), then every interval. */
  start(): void {
    this.#stopped = false;
    this.#nextAt = 0;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = setInterval(() => this.poke(), this.#intervalMs);
    this.#timer.unref();
    this.poke();
  }

  /** Sweeps when a sweep is due by the clock and none is running. */
  poke(): void {
    const now = this.#now();
    if (this.#stopped || this.#running || now < this.#nextAt) return;
    this.#nextAt = now + this.#intervalMs;
    this.#running = sweepStore(this.#store, now)
      .then(
        (counts) => {
          if (counts.handshakes + counts.secrets > 0) this.#log.info("swept finished handshakes and expired secrets", { ...counts });
        },
        (error: unknown) => {
          if (!this.#stopped) this.#log.error("sweep failed", { error: error instanceof Error ? error.message : String(error) });
        },
      )
      .finally(() => (this.#running = undefined));
  }

  /** The sweep under way, if any (WorkQueue.idle waits for it). */
  get running(): Promise<void> | undefined {
    return this.#running;
  }

  /** Stops sweeping and waits for a sweep under way. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#running;
  }
}
