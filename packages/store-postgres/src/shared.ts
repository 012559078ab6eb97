/**
 * `store.shared` (core's `SharedStore`): what several engine processes on one database
 * coordinate through.
 *
 * - `withLock`: `pg_advisory_lock` on a connection of its own pool, held for the task
 *   (the task's queries use the main pool, so waiters never starve the holder); released
 *   when the task settles, or by the server when that connection dies. A wait longer
 *   than `lockWaitMs` fails (lock_timeout).
 * - `hit`: one upsert on the UNLOGGED `rate_windows` table; ended windows are deleted
 *   at most once a minute, by the caller's clock.
 * - `onWork`: one LISTEN connection (opened with the first listener), reconnecting after
 *   it drops — then calling the listeners once, since notifications may have been missed.
 */
import { createHash, randomBytes } from "node:crypto";
import type { SharedStore } from "@indiepm/core";
import pg from "pg";
import { WORK_CHANNEL } from "./migrations.js";
import type { Sql } from "./sql.js";

/** A signed 64-bit advisory-lock key for `name`, as a decimal string (the first 8 bytes of its SHA-256). */
export function lockKey(name: string): string {
  return createHash("sha256").update(name).digest().readBigInt64BE(0).toString();
}

const SWEEP_EVERY_MS = 60_000;
const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;

export interface SharedParts {
  pool: pg.Pool;
  lockPool: pg.Pool;
  listenConfig: pg.ClientConfig;
  sql: Sql;
  schemaName: string;
  run: <T>(task: () => Promise<T>) => Promise<T>;
  fail: (error: unknown) => Error;
}

export interface SharedHandle extends SharedStore {
  close(): Promise<void>;
}

export function createShared(parts: SharedParts): SharedHandle {
  const { pool, lockPool, sql, schemaName, run, fail } = parts;
  const instance = `${process.pid}-${randomBytes(6).toString("hex")}`;
  let lastSweep = Number.NEGATIVE_INFINITY;
  const listeners = new Set<() => void>();
  let listener: WorkListener | undefined;
  let closed = false;
  /** The connections of withLock tasks running now. */
  const held = new Set<pg.PoolClient>();

  return {
    instance,

    withLock: (key, task) =>
      run(async () => {
        const client = await lockPool.connect().catch((error: unknown) => Promise.reject(fail(error)));
        held.add(client);
        let broken = false;
        const onError = () => (broken = true);
        client.on("error", onError);
        try {
          const lock = lockKey(`lock ${schemaName} ${key}`);
          await client.query("SELECT pg_advisory_lock($1)", [lock]).catch((error: unknown) => {
            broken = true;
            throw fail(error);
          });
          try {
            return await task();
          } finally {
            await client.query("SELECT pg_advisory_unlock($1)", [lock]).catch(() => (broken = true));
          }
        } finally {
          held.delete(client);
          client.off("error", onError);
          // A connection that failed may still hold the lock: destroy it, the server releases the lock.
          client.release(broken);
        }
      }),

    hit: (key, windowMs, now, cap) =>
      run(async () => {
        const t = sql.schema;
        const { rows } = await pool
          .query<{ start: number; count: number }>(
            `INSERT INTO ${t}.rate_windows AS w (key, start, ends, count) VALUES ($1, $2::float8, $2::float8 + $3::float8, 1)
             ON CONFLICT (key) DO UPDATE SET
               start = CASE WHEN w.ends <= $2 THEN $2 ELSE w.start END,
               ends = CASE WHEN w.ends <= $2 THEN $2 + $3 ELSE w.ends END,
               count = CASE WHEN w.ends <= $2 THEN 1 ELSE LEAST(w.count + 1, $4 + 1) END
             RETURNING start, count`,
            [key, now, windowMs, cap],
          )
          .catch((error: unknown) => Promise.reject(fail(error)));
        if (now - lastSweep >= SWEEP_EVERY_MS) {
          lastSweep = now;
          pool.query(`DELETE FROM ${t}.rate_windows WHERE ends <= $1`, [now]).catch(() => (lastSweep = Number.NEGATIVE_INFINITY));
        }
        const row = rows[0] as { start: number; count: number };
        return { start: Number(row.start), count: Number(row.count) };
      }),

    onWork(callback) {
      if (closed) return () => undefined;
      listeners.add(callback);
      listener ??= new WorkListener(parts.listenConfig, schemaName, () => {
        for (const each of [...listeners]) each();
      });
      return () => {
        listeners.delete(callback);
      };
    },

    async close() {
      closed = true;
      listeners.clear();
      await listener?.close();
      // A task still running at close (the store waited for it as long as it waits) loses its lock with its connection.
      await Promise.all([...held].map((client) => client.end().catch(() => undefined)));
    },
  };
}

/** The LISTEN connection: notifications of a burst become one call; a dropped connection is opened again. */
class WorkListener {
  #client: pg.Client | undefined;
  #closed = false;
  #scheduled = false;
  #delay = RECONNECT_MIN_MS;
  #timer: NodeJS.Timeout | undefined;
  readonly #config: pg.ClientConfig;
  readonly #schema: string;
  readonly #call: () => void;

  constructor(config: pg.ClientConfig, schema: string, call: () => void) {
    this.#config = config;
    this.#schema = schema;
    this.#call = call;
    void this.#connect(false);
  }

  #wake(): void {
    if (this.#scheduled || this.#closed) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (!this.#closed) this.#call();
    });
  }

  async #connect(again: boolean): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client(this.#config);
    this.#client = client;
    let dropped = false;
    const drop = () => {
      if (dropped) return;
      dropped = true;
      client.end().catch(() => undefined);
      if (this.#closed) return;
      this.#timer = setTimeout(() => void this.#connect(true), this.#delay);
      this.#delay = Math.min(this.#delay * 2, RECONNECT_MAX_MS);
    };
    client.on("error", drop);
    client.on("end", drop);
    client.on("notification", (message) => {
      if (message.channel === WORK_CHANNEL && message.payload === this.#schema) this.#wake();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${WORK_CHANNEL}`);
      this.#delay = RECONNECT_MIN_MS;
      // Work added while no connection listened would otherwise wait for the next poll.
      if (again) this.#wake();
    } catch {
      drop();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#client?.end().catch(() => undefined);
  }
}
