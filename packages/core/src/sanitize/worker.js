// @ts-check
/**
 * The sanitizer's worker thread (./pool.ts): loads jsdom once, says it is ready, then
 * answers each `{ id, html }` with `{ id, html: sanitizeHtml(html) }`. The pool ends
 * the thread when one answer takes longer than its budget.
 */
import { parentPort } from "node:worker_threads";
import { sanitizeHtml, warmUp } from "./purify.js";

if (!parentPort) throw new Error("sanitize/worker.js runs as a worker thread (see pool.ts).");
const port = parentPort;
warmUp();
port.on("message", (/** @type {{ id: number; html: string }} */ job) => {
  let html;
  try {
    html = sanitizeHtml(job.html);
  } catch (error) {
    port.postMessage({ id: job.id, error: error instanceof Error ? error.message : String(error) });
    return;
  }
  port.postMessage({ id: job.id, html });
});
port.postMessage({ ready: true });
