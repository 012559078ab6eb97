/**
 * Group commit of `Store.writeAfter` and `Store.writeIfUnchanged` (issue 11: delivery
 * throughput). A call made while none of these statements is under way is sent at once,
 * alone; calls made while one is wait, and go to the database together as one statement
 * (sql.ts `writeStatement`) when it ends. A statement costs the database far more than
 * the rows it writes (measured on this store's inbox: 8 rows by one statement cost 0.15 ms
 * of backend CPU each, by 8 statements 0.41 ms each), so under load the writes of many
 * `deliver`s cost little more than one's, and one at a time nothing waits. Another
 * statement starts beside one under way, up to `statements` at once, when `fill` calls
 * wait (worth a statement of their own: the database's second core is then used, not
 * left idle while the first runs), or when the latest started `waitMs` ago (a row lock
 * another instance holds, a busy server: it does not hold the rest up).
 *
 * Each call keeps what it promises alone: its writes are made or not as they would be by
 * a statement of their own (its `given` checked, its first write gating the others), and
 * all of them are kept or none (a statement is one transaction). A call that writes a row
 * another call of the batch writes waits for the next one (sql.ts `joinsBatch`), except
 * merges into one row, which are one merge. A batch the database refuses for what is in it
 * (a constraint, a deadlock with another instance's batch, a trigger: `retriedAlone`) is
 * tried again call by call, so one call's failure is its own; one that failed for the
 * database itself (unreachable, a timeout) fails every call in it.
 */
import { batchKeys, joinsBatch, type WriteCall } from "./sql.js";

/** What one call's statement answered: whether `given` held (with `given`), and each write made. */
export interface CallResult {
  readonly given: boolean | undefined;
  readonly made: readonly boolean[];
}

export interface WriteBatchLimits {
  /** Statements of these calls under way at once at most. */
  readonly statements: number;
  /** How long the latest statement may be under way before another starts beside it, ms. */
  readonly waitMs: number;
  /** Calls waiting that start another statement beside those under way at once. */
  readonly fill: number;
  /** Calls in one statement at most (the statement's size and its planning grow with it). */
  readonly calls: number;
}

/**
 * bench/postgres-delivery.js, 8 senders, 5 rounds, alternating (BENCHMARKS.md): with `fill`
 * 4 the ratio was 0.80–0.89 (4 runs), with none 0.79–0.81, with 6 0.78–0.81, with 3
 * 0.60–0.81; a second statement at once for any call, 0.65–0.70.
 */
export const WRITE_BATCH_DEFAULTS: WriteBatchLimits = { statements: 4, waitMs: 20, fill: 4, calls: 16 };

/** SQLSTATE classes of failures caused by what a statement wrote, not by the database: 21, 22, 23, 40, 54, P0. */
const ROW_CAUSED = /^(21|22|23|40|54|P0)/;

/** Whether a batch that failed with `error` is tried again one call at a time. */
export function retriedAlone(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === "string" && code.length === 5 && ROW_CAUSED.test(code);
}

interface Waiting {
  readonly call: WriteCall;
  readonly resolve: (result: CallResult) => void;
  readonly reject: (error: unknown) => void;
}

export class WriteBatches {
  readonly #run: (calls: readonly WriteCall[]) => Promise<CallResult[]>;
  readonly #limits: WriteBatchLimits;
  readonly #waiting: Waiting[] = [];
  #underWay = 0;
  #latestStart = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** `run`: one statement for the calls (sql.ts `writeStatement`), its answers in order; rejects with the driver's error. */
  constructor(run: (calls: readonly WriteCall[]) => Promise<CallResult[]>, limits: WriteBatchLimits = WRITE_BATCH_DEFAULTS) {
    this.#run = run;
    this.#limits = limits;
  }

  /** Makes `call` (alone, or with the calls made at the same time); rejects with the driver's error. */
  write(call: WriteCall): Promise<CallResult> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ call, resolve, reject });
      this.#next();
    });
  }

  /**
   * Starts a statement for the waiting calls when none is under way; or, while fewer than
   * `statements` are, when `fill` calls wait or the latest started `waitMs` ago; otherwise
   * looks again then.
   */
  #next(): void {
    while (this.#waiting.length > 0 && this.#underWay < this.#limits.statements) {
      const since = performance.now() - this.#latestStart;
      if (this.#underWay > 0 && since < this.#limits.waitMs && this.#waiting.length < this.#limits.fill) {
        this.#timer ??= setTimeout(() => {
          this.#timer = undefined;
          this.#next();
        }, this.#limits.waitMs - since);
        this.#timer.unref?.();
        return;
      }
      const batch = this.#take();
      this.#underWay++;
      this.#latestStart = performance.now();
      void this.#send(batch).finally(() => {
        this.#underWay--;
        this.#next();
      });
    }
  }

  /** The waiting calls that go together, oldest first; one that cannot join stays first in line. */
  #take(): Waiting[] {
    const keys = new Map<string, string | null>();
    const batch: Waiting[] = [];
    const left: Waiting[] = [];
    for (const waiting of this.#waiting) {
      if (batch.length < this.#limits.calls && joinsBatch(keys, waiting.call)) {
        batchKeys(keys, waiting.call);
        batch.push(waiting);
      } else left.push(waiting);
    }
    this.#waiting.splice(0, this.#waiting.length, ...left);
    return batch;
  }

  async #send(batch: readonly Waiting[]): Promise<void> {
    try {
      const results = await this.#run(batch.map((w) => w.call));
      for (const [i, waiting] of batch.entries()) waiting.resolve(results[i]!);
    } catch (error) {
      if (batch.length === 1 || !retriedAlone(error)) {
        for (const waiting of batch) waiting.reject(error);
        return;
      }
      await Promise.all(batch.map((waiting) => this.#send([waiting])));
    }
  }
}
