/**
 * Other parties for the end-to-end suites: a scripted pm endpoint that records what it
 * is sent and answers as told (a "yes-man" attacker such as mallory, or a stand-in for
 * one side of a handshake), raw POSTs, a store that fails on demand, an outbound client
 * that can be watched or lose answers, and a clock that tests can move.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { createHttpClient, type CollectionName, type HttpClient, type PostAnswer, type Query, type Store } from "@indiepm/core";
import { LoopbackHost, postForm, waitFor } from "./hosts.js";

/** One POST a scripted endpoint received. */
export interface Received {
  action: string | undefined;
  params: URLSearchParams;
  /** The `Authorization` header, when there was one. */
  authorization: string | undefined;
  /** `Date.now()` when it arrived. */
  at: number;
}

/** What a scripted endpoint answers; `after` runs once the answer was sent (not `then`: that would make it a thenable). */
export interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  after?: () => Promise<unknown>;
}

/** The answers of a pm endpoint that says yes to everything (PROTOCOL.md §2's success table). */
export function yes(received: Received): Answer {
  switch (received.action) {
    case "verify":
      return { status: 200, body: { valid: true } };
    case "deliver":
      return { status: 201, body: { status: "delivered" } };
    default:
      return { status: 202, body: { status: "accepted" } };
  }
}

/**
 * A pm endpoint on a loopback port that records every POST and answers with `answer`
 * (default: `yes`). As mallory it is the strongest attacker — it would accept any
 * request, token or message — so "mallory received nothing" proves nobody asked it.
 */
export class ScriptedEndpoint extends LoopbackHost {
  received: Received[] = [];
  /** Failures of `after` work (a test that expects none checks this is empty). */
  errors: unknown[] = [];
  answer: (received: Received) => Answer | Promise<Answer> = yes;

  constructor(answer?: (received: Received) => Answer | Promise<Answer>) {
    super();
    if (answer) this.answer = answer;
    this.handler = (req, res) => void this.#handle(req, res);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== "POST") {
      res.statusCode = 200;
      res.end("scripted endpoint");
      return;
    }
    const params = new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
    const received: Received = { action: params.get("action") ?? undefined, params, authorization: req.headers.authorization, at: Date.now() };
    this.received.push(received);
    const answer = await this.answer(received);
    res.statusCode = answer.status;
    res.setHeader("content-type", "application/json");
    for (const [k, v] of Object.entries(answer.headers ?? {})) res.setHeader(k, v);
    res.end(JSON.stringify(answer.body ?? {}));
    if (answer.after) {
      const after = answer.after;
      // Counted as this endpoint's work until it ends (`allIdle` waits for it).
      void this.track(new Promise((r) => res.once("finish", r)).then(after).catch((error: unknown) => void this.errors.push(error)));
    }
  }

  of(action: string): Received[] {
    return this.received.filter((r) => r.action === action);
  }

  /** Waits for the `n`th (1-based) POST with `action`. */
  async next(action: string, n = 1, timeoutMs = 5_000): Promise<Received> {
    return waitFor(() => this.of(action)[n - 1], timeoutMs, `${action} #${n} at ${this.url}`);
  }
}

/**
 * Plays E_R (PROTOCOL.md §3/§4 steps 3–4) against the sender endpoint `senderPm` for
 * every notify/authorize it gets: answers 202, then verifies and sends `request`/`grant`
 * naming itself, with a token of its own. Later POSTs go to `otherwise` (default `yes`).
 */
export function actAsReceiver(self: ScriptedEndpoint, senderPm: string, otherwise: (r: Received) => Answer | Promise<Answer> = yes): string[] {
  const tokens: string[] = [];
  self.answer = (r) => {
    if (r.action !== "notify" && r.action !== "authorize") return otherwise(r);
    const sites = { sender: r.params.get("sender")!, recipient: r.params.get("recipient")! };
    return {
      status: 202,
      body: { status: "accepted" },
      after: async () => {
        const token = `token-of-the-scripted-receiver-${tokens.length}-0123456789abcdef`;
        tokens.push(token);
        if (r.action === "notify") {
          const message = r.params.get("message")!;
          await postForm(senderPm, { action: "verify", ...sites, message });
          await postForm(senderPm, { action: "request", ...sites, message, endpoint: self.url, token });
        } else {
          const code = r.params.get("code")!;
          await postForm(senderPm, { action: "verify", ...sites, code });
          await postForm(senderPm, { action: "grant", ...sites, code, endpoint: self.url, token, expires_in: "3600" });
        }
      },
    };
  };
  return tokens;
}

/** A POST with any body and headers, for requests that are not forms. */
export async function postRaw(url: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, { method: "POST", body, headers });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {}
  return { status: res.status, body: parsed, headers: res.headers };
}

/**
 * A store wrapper whose `get` throws for the collections in `failing` (empty at first;
 * tests fill it when the failure should start).
 */
export function faultyStore(failing: Set<CollectionName>) {
  return (store: Store): Store =>
    new Proxy(store, {
      get(target, prop) {
        if (prop === "get") {
          return (collection: CollectionName, id: string) =>
            failing.has(collection)
              ? Promise.reject(new Error(`injected failure reading ${collection} at /secret/internal/path.ts:42`))
              : target.get(collection, id);
        }
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
}

/**
 * A store wrapper under which the work queue learns its next due time late: each of those
 * reads (the earliest `nextAttemptAt`, no range) starts `beforeMs` late and answers
 * `afterMs` after it ran, so what a job writes meanwhile is not in the answer.
 */
export function slowNextDueReads(beforeMs: number, afterMs: number) {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  return (store: Store): Store =>
    new Proxy(store, {
      get(target, prop) {
        if (prop === "find") {
          return async (collection: CollectionName, query?: Query) => {
            if (query?.limit !== 1 || query.sort?.field !== "nextAttemptAt" || query.range) return target.find(collection, query);
            await sleep(beforeMs);
            const found = await target.find(collection, query);
            await sleep(afterMs);
            return found;
          };
        }
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
}

/** What an outbound client tap sees of one POST. */
export interface TappedPost {
  url: string;
  form: URLSearchParams;
  headers: Record<string, string>;
  answer?: PostAnswer;
}

/**
 * A real outbound client (dev mode) that records every POST; `afterPost` may throw to
 * lose an answer that the peer did send (a dropped connection after the fact).
 * Close it with `client.close()`.
 */
export function tappedHttp(afterPost?: (post: TappedPost) => void) {
  const real = createHttpClient({ dev: true });
  const posts: TappedPost[] = [];
  const client: HttpClient & { close(): Promise<void>; posts: TappedPost[] } = {
    posts,
    get: (url, options) => real.get(url, options),
    async postForm(url, form, options) {
      const post: TappedPost = { url, form, headers: { ...options?.headers } };
      posts.push(post);
      post.answer = await real.postForm(url, form, options);
      afterPost?.(post);
      return post.answer;
    },
    close: () => real.close(),
  };
  return client;
}

/** A clock tests move forward (`now` option of a pm server). */
export function movableClock() {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance(ms: number) {
      offset += ms;
    },
  };
}

/** A capturing logger: every `error` call, for "logged by the server" checks. */
export function recordingLogger() {
  const errors: { message: string; data?: Record<string, unknown> }[] = [];
  return {
    errors,
    info: () => {},
    warn: () => {},
    error: (message: string, data?: Record<string, unknown>) => void errors.push({ message, ...(data ? { data } : {}) }),
  };
}
