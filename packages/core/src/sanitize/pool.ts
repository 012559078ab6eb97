/**
 * PROTOCOL.md §5 `content-html`, §6 "Content", off the event loop: received HTML is
 * sanitized (./purify.js) in a small pool of worker threads, each answer within a time
 * budget. A worker over its budget is ended and replaced, and the caller stores the
 * message's text instead; a full queue is answered at once the same way. The event
 * loop's share of a `deliver` is then the same whatever HTML it carries.
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { PmError } from "../errors.js";

export interface SanitizerPoolOptions {
  /** Worker threads (default: 2, or 1 on a single core). Each holds a jsdom window (~60 MB). */
  workers?: number;
  /** Most milliseconds one message may take in a worker (default 2,000; the costliest within `HTML_LIMITS` take 0.3–1 s on a busy 2-core machine). */
  budgetMs?: number;
  /** Messages waiting for a worker, beyond which `sanitize` answers `busy` at once (default 4: a sender waits at most about (4 + 1) × the budget, within its §6 10 s). */
  maxQueue?: number;
  /** Heap of each worker, MiB (default 256): a worker that needs more is ended like one over budget. */
  maxHeapMb?: number;
}

/** What became of one `sanitize` call. */
export type SanitizeOutcome =
  | { kind: "sanitized"; html: string }
  /** The worker took longer than the budget (or ran out of memory) and was replaced. */
  | { kind: "over_budget" }
  /** The queue was full, or the pool closed. */
  | { kind: "busy" };

/** Sanitizes received HTML without blocking the caller's thread. `createSanitizerPool` makes one. */
export interface HtmlSanitizer {
  sanitize(html: string): Promise<SanitizeOutcome>;
  close(): Promise<void>;
}

export interface SanitizerPool extends HtmlSanitizer {
  /** Messages handed to a worker, ended over budget, and answered `busy`, since the pool was made. */
  readonly stats: { started: number; overBudget: number; busy: number; workersStarted: number };
}

export const DEFAULT_SANITIZER = { budgetMs: 2_000, maxQueue: 4, maxHeapMb: 256 } as const;

interface Job {
  id: number;
  html: string;
  resolve(outcome: SanitizeOutcome): void;
}

interface Slot {
  worker: Worker;
  ready: boolean;
  /** The job its worker runs; `undefined` while idle. */
  job: Job | undefined;
  timer?: NodeJS.Timeout;
}

function positiveInteger(value: unknown, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new PmError("invalid_config", `indiepm: sanitizer option \`${field}\` must be a whole number of at least 1, got ${JSON.stringify(value)}.`);
  }
  return value;
}

/** A pool of sanitizer workers, started on first use; `close()` ends them. */
export function createSanitizerPool(options: SanitizerPoolOptions = {}): SanitizerPool {
  const size = positiveInteger(options.workers, "workers", Math.max(1, Math.min(2, availableParallelism() - 1)));
  const budgetMs = positiveInteger(options.budgetMs, "budgetMs", DEFAULT_SANITIZER.budgetMs);
  const maxQueue = positiveInteger(options.maxQueue, "maxQueue", DEFAULT_SANITIZER.maxQueue);
  const maxHeapMb = positiveInteger(options.maxHeapMb, "maxHeapMb", DEFAULT_SANITIZER.maxHeapMb);
  const workerUrl = new URL("./worker.js", import.meta.url);
  const slots: Slot[] = [];
  const queue: Job[] = [];
  const stats = { started: 0, overBudget: 0, busy: 0, workersStarted: 0 };
  let nextId = 0;
  let closed = false;

  function spawn(): void {
    stats.workersStarted++;
    const worker = new Worker(workerUrl, { resourceLimits: { maxOldGenerationSizeMb: maxHeapMb } });
    // Idle workers do not keep a process alive; a request waiting on one does.
    worker.unref();
    const slot: Slot = { worker, ready: false, job: undefined };
    slots.push(slot);
    worker.on("message", (message: { ready?: true; id?: number; html?: string; error?: string }) => {
      if (message.ready) {
        slot.ready = true;
      } else if (slot.job && message.id === slot.job.id) {
        const job = slot.job;
        clearTimeout(slot.timer);
        slot.job = undefined;
        // A failure inside DOMPurify is treated like a message over budget: its text is stored.
        if (message.html === undefined) stats.overBudget++;
        job.resolve(message.html === undefined ? { kind: "over_budget" } : { kind: "sanitized", html: message.html });
      }
      dispatch();
    });
    // An error (out of memory, a failed load) ends the thread: its job is over budget.
    worker.on("error", () => {});
    worker.on("exit", () => {
      // A worker that never got ready cannot load the sanitizer: what waits is stored as
      // text rather than starting worker after worker (the next message tries again).
      if (!slot.ready) for (const job of queue.splice(0)) settle(job, { kind: "over_budget" });
      retire(slot, false);
    });
  }

  /** Ends `slot`'s worker; its job, if any, is answered over budget. */
  function retire(slot: Slot, terminate: boolean): void {
    const index = slots.indexOf(slot);
    if (index === -1) return;
    slots.splice(index, 1);
    clearTimeout(slot.timer);
    if (slot.job) {
      stats.overBudget++;
      slot.job.resolve({ kind: "over_budget" });
      slot.job = undefined;
    }
    if (terminate) {
      void slot.worker.terminate();
      // The replacement loads jsdom (a second or more) now rather than when the next message comes.
      if (!closed && slots.length < size) spawn();
    }
    dispatch();
  }

  function settle(job: Job, outcome: SanitizeOutcome): void {
    if (outcome.kind === "over_budget") stats.overBudget++;
    job.resolve(outcome);
  }

  function dispatch(): void {
    if (closed) return;
    for (const slot of slots) {
      if (!slot.ready || slot.job) continue;
      const job = queue.shift();
      if (!job) return;
      slot.job = job;
      stats.started++;
      slot.timer = setTimeout(() => retire(slot, true), budgetMs);
      slot.worker.postMessage({ id: job.id, html: job.html });
    }
    // Workers are started as work arrives, and again after one was ended.
    if (queue.length > slots.filter((s) => !s.job).length && slots.length < size) spawn();
    // Waiting work keeps the process alive; idle workers do not.
    for (const slot of slots) {
      if (slot.job || queue.length > 0) slot.worker.ref();
      else slot.worker.unref();
    }
  }

  return {
    stats,
    sanitize(html: string): Promise<SanitizeOutcome> {
      if (closed || queue.length >= maxQueue) {
        stats.busy++;
        return Promise.resolve({ kind: "busy" });
      }
      return new Promise((resolve) => {
        queue.push({ id: nextId++, html, resolve });
        dispatch();
      });
    },
    async close(): Promise<void> {
      closed = true;
      for (const job of queue.splice(0)) job.resolve({ kind: "busy" });
      await Promise.all(
        slots.splice(0).map((slot) => {
          clearTimeout(slot.timer);
          slot.job?.resolve({ kind: "busy" });
          return slot.worker.terminate();
        }),
      );
    },
  };
}
