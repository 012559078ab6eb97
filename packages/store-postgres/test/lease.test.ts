/**
 * The job lease keeps two instances from having one job's request out at once (issue 11),
 * also when the holder cannot renew it: the database stopped (a real PostgreSQL of this
 * file's own, stopped and started), so the lease runs out and another instance may take the
 * job once it is back. Two stores on one database (two instances); the jobs are the
 * engine's own (jobs/delivery.ts, jobs/webhook.ts) under `runLeased` with short lease
 * times; the other side is a real loopback server that records when each request began and
 * when it ended (answered, or cut by its sender), and which instance sent it (User-Agent).
 *
 * Here rather than in core's tests: core cannot import test-support or this package.
 */
import { createServer, type ServerResponse } from "node:http";
import { connect } from "node:net";
import { createHttpClient, DEFAULT_RETRY, type ClosableHttpClient } from "@indiepm/core";
import { closeServer, listenLoopback, postgresServerSkipReason, startPostgresServer, type PostgresServer } from "@indiepm/test-support";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DiscoveryCache } from "../../core/src/discovery/cache.js";
import type { Engine } from "../../core/src/protocol/engine.js";
import { runDelivery } from "../../core/src/protocol/jobs/delivery.js";
import { runDialback } from "../../core/src/protocol/jobs/dialback.js";
import { runLeased, type LeaseTimes } from "../../core/src/protocol/jobs/queue.js";
import { runWebhook } from "../../core/src/protocol/jobs/webhook.js";
import type { DeliveryDoc, GrantDoc, HandshakeDoc, OutboxDoc, WebhookDoc } from "../../core/src/protocol/records.js";
import { keyOf } from "../../core/src/secrets.js";
import type { HtmlSanitizer } from "../../core/src/sanitize.js";
import { openPostgresStore, type PostgresStore } from "../src/index.js";

/**
 * Short lease times: 6 s leases renewed every 2 s (PostgreSQL is stopped well before the
 * first renewal); a request starts only with 2 s left (one 1 s step and the 1 s margin),
 * and one under way is cut 1 s before the lease's end. The guarded client's own POST limit
 * stays 10 s: longer than a step, as a client's may be.
 */
const TIMES: LeaseTimes = { leaseMs: 6_000, marginMs: 1_000, stepMs: 1_000 };
/** For a discovery, whose GET has 5 s of its own (§1): a margin of 2.5 s cuts it at 3.5 s, before that limit. */
const GET_TIMES: LeaseTimes = { leaseMs: 6_000, marginMs: 2_500, stepMs: 1_000 };
const SENDER = "http://127.0.0.1:9/alice/";
const RECIPIENT = "http://127.0.0.1:9/bob/";
const MESSAGE = "http://127.0.0.1:9/alice/m/1";
const quiet = { info() {}, warn() {}, error() {} };

const SKIP = postgresServerSkipReason();

/** One request the peer got: from which instance, when it began and when it ended (answered or cut). */
interface Seen {
  from: string;
  action: string;
  start: number;
  end?: number;
}

/** The other side: records every POST; `hold(from)` leaves that instance's requests unanswered until released (or cut by the sender). */
async function startPeer() {
  const server = createServer();
  const url = await listenLoopback(server);
  const seen: Seen[] = [];
  const holding = new Set<string>();
  const held: ServerResponse[] = [];
  server.on("request", async (req, res) => {
    const record: Seen = { from: String(req.headers["user-agent"]), action: "?", start: Date.now() };
    seen.push(record);
    res.on("close", () => (record.end ??= Date.now()));
    let body = "";
    try {
      for await (const chunk of req) body += chunk;
    } catch {
      return; // cut while sending: recorded, nothing to answer
    }
    record.action =
      req.method === "GET" ? "GET" : req.headers["content-type"]?.startsWith("application/json") ? "webhook" : (new URLSearchParams(body).get("action") ?? "?");
    if (holding.has(record.from)) return void held.push(res);
    res.writeHead(record.action === "deliver" ? 201 : 200, { "content-type": "application/json" }).end("{}");
  });
  return {
    url,
    seen,
    hold: (from: string) => holding.add(from),
    /** Answers what was held (201) and holds nothing more. */
    release() {
      holding.clear();
      for (const res of held.splice(0)) if (!res.destroyed) res.writeHead(201, { "content-type": "application/json" }).end("{}");
    },
    close: () => closeServer(server),
  };
}

/** Polls `probe` until it answers something truthy, failing with `what` after `timeoutMs`. */
async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, everyMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

describe.skipIf(SKIP)("the job lease when its holder cannot renew it (PostgreSQL stopped)", () => {
  let pg: PostgresServer;
  let peer: Awaited<ReturnType<typeof startPeer>>;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    pg = await startPostgresServer();
    peer = await startPeer();
  }, 120_000);
  afterEach(async () => {
    // A test that failed with the database stopped leaves it to the next one started.
    if (!(await reachable())) await pg.start();
    peer.release();
    peer.seen.length = 0;
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    await peer?.close();
    await pg?.close();
  });

  /** Whether the database server accepts connections (it was started again). */
  const reachable = () =>
    new Promise<boolean>((resolve) => {
      const socket = connect(pg.port, "127.0.0.1");
      const done = (up: boolean) => {
        socket.destroy();
        resolve(up);
      };
      socket.once("connect", () => done(true)).once("error", () => done(false));
      socket.setTimeout(1_000, () => done(false));
    });

  /** An instance: its own store on the database (its own `shared.instance`) and the engine's parts the jobs use, its client naming it. */
  async function instance(schema: string, name: string) {
    const store: PostgresStore = await openPostgresStore(pg.url, { schema, poolSize: 2, connectTimeoutMs: 1_000 });
    const http: ClosableHttpClient = createHttpClient({ dev: true, userAgent: name });
    cleanups.push(
      () => store.close(),
      () => http.close(),
    );
    const engine: Engine = {
      endpoint: "http://127.0.0.1:9/pm/",
      sites: new Set([SENDER]),
      urlPolicy: { dev: true },
      store,
      http,
      retry: DEFAULT_RETRY,
      grantLifetimeSeconds: 3_600,
      sanitizer: {} as HtmlSanitizer,
      now: Date.now,
      random: Math.random,
      log: quiet,
      emit() {},
      wake() {},
      handshakeLocks: new Map(),
      discoveryCache: new DiscoveryCache(),
      sanitizing: new Map(),
    };
    /** `name`: the User-Agent of its requests; `id`: what `leasedBy` records of it. */
    return { name, id: store.shared.instance, store, engine };
  }
  type Instance = Awaited<ReturnType<typeof instance>>;

  /** A delivery at §4 step 6 (a standing token held for the peer), due now. */
  async function deliveryAtStep6(store: PostgresStore): Promise<DeliveryDoc> {
    const now = Date.now();
    await store.insert<OutboxDoc>("outbox", {
      _id: keyOf(SENDER, MESSAGE),
      message: MESSAGE,
      sender: SENDER,
      recipients: [RECIPIENT],
      content: "hello",
      published: new Date(now).toISOString(),
      flow: "token",
      createdAt: now,
    });
    await store.insert<GrantDoc>("grants", {
      _id: keyOf(SENDER, RECIPIENT, peer.url),
      sender: SENDER,
      recipient: RECIPIENT,
      endpoint: peer.url,
      token: "T".repeat(43),
      expiresAt: now + 3_600_000,
      grantedAt: now,
    });
    const doc: DeliveryDoc = {
      _id: keyOf(SENDER, RECIPIENT, MESSAGE),
      message: MESSAGE,
      sender: SENDER,
      recipient: RECIPIENT,
      flow: "token",
      status: "pending",
      stage: "deliver",
      endpoint: peer.url,
      rev: 0,
      attempts: 0,
      firstTriedAt: now,
      nextAttemptAt: 0,
      createdAt: now,
      updatedAt: now,
    };
    await store.insert("deliveries", doc);
    return doc;
  }

  const pendingDelivery = (d: DeliveryDoc) => d.status === "pending";
  const deliverOn = (at: Instance, doc: DeliveryDoc) =>
    runLeased(at.engine, at.store.shared, "deliveries", doc, pendingDelivery, (d, lease) => runDelivery(at.engine, d, lease), TIMES);
  const readDelivery = async (at: Instance) => (await at.store.get<DeliveryDoc>("deliveries", keyOf(SENDER, RECIPIENT, MESSAGE)))!;
  /** B tries to take the delivery (as its queue would, each time it is due) until its deliver reaches the peer. */
  const takeOver = async (b: Instance, doc: DeliveryDoc) => {
    const runs: Promise<void>[] = [];
    await until("B to take the delivery and send its deliver", async () => {
      if (peer.seen.some((s) => s.from === b.name)) return true;
      if ((await readDelivery(b)).leasedBy !== b.id) runs.push(deliverOn(b, doc));
      return false;
    });
    return runs;
  };

  it("cuts the request under way a margin before the lease's end: another instance's deliver starts only after it ended", async () => {
    const a = await instance("inflight", "instance A");
    const b = await instance("inflight", "instance B");
    const doc = await deliveryAtStep6(a.store);
    peer.hold(a.name);
    const runningA = deliverOn(a, doc);
    const sentA = await until("A's deliver at the peer", () => peer.seen.find((s) => s.from === a.name));
    // The database goes away (well before the first renewal, at a third of the lease): every renewal fails.
    await pg.stop();

    // A's deliver is cut (the peer sees its connection close) and A's try ends, writing nothing.
    const endA = await until("A's deliver to end", () => sentA.end, 15_000);
    const outcomeA = await runningA.then(
      () => "its try ended",
      (error: Error) => error.message,
    );
    // The database back once the lease has run out: the delivery is as A took it, due for anyone
    // at the end of the lease A last wrote; A's deliver ended a margin before that end, not at
    // the client's 10 s limit.
    await until("past the lease's end", () => Date.now() > endA + TIMES.marginMs + 200);
    await pg.start();
    const left = await readDelivery(b);
    expect(left).toMatchObject({ status: "pending", stage: "deliver", attempts: 0, leasedBy: a.id });
    expect(endA).toBeLessThan(left.nextAttemptAt);
    expect(endA).toBeGreaterThanOrEqual(left.nextAttemptAt - TIMES.marginMs - 100);
    expect(outcomeA).toBe("its try ended");

    const runs = await takeOver(b, doc);
    await Promise.all(runs);
    const sentB = peer.seen.find((s) => s.from === b.name)!;
    expect(sentB.start).toBeGreaterThan(endA);
    expect(await readDelivery(b)).toMatchObject({ status: "delivered", leasedBy: b.id });
    expect(peer.seen.map((s) => [s.from, s.action])).toEqual([
      [a.name, "deliver"],
      [b.name, "deliver"],
    ]);
  }, 60_000);

  it("starts no request once its lease may have run out: a job that reaches its deliver after another instance took it sends nothing", async () => {
    const a = await instance("late_start", "instance A");
    const b = await instance("late_start", "instance B");
    const doc = await deliveryAtStep6(a.store);
    // A takes the delivery, but its job gets to the deliver only when let go (as if slow).
    let letGo!: () => void;
    const gate = new Promise<void>((resolve) => (letGo = resolve));
    const runningA = runLeased(
      a.engine,
      a.store.shared,
      "deliveries",
      doc,
      pendingDelivery,
      async (d, lease) => {
        await gate;
        await runDelivery(a.engine, d, lease);
      },
      TIMES,
    );
    const leaseEnd = await until("A's lease", async () => {
      const d = await readDelivery(a);
      return d.leasedBy === a.id && d.nextAttemptAt;
    });
    // The database away past the lease's end: A cannot renew it.
    await pg.stop();
    await until("the lease's end", () => Date.now() > leaseEnd + 200);
    await pg.start();

    // B takes the delivery; the peer keeps B's deliver open while A's job goes on.
    peer.hold(b.name);
    const runs = await takeOver(b, doc);
    letGo();
    await runningA;
    // A read what it needed from the database (it is back) but sent nothing: only B's deliver.
    expect(peer.seen.map((s) => [s.from, s.action])).toEqual([[b.name, "deliver"]]);
    peer.release();
    await Promise.all(runs);
    expect(await readDelivery(b)).toMatchObject({ status: "delivered", leasedBy: b.id });
  }, 60_000);

  it("starts no request with less than one step and the margin left when it cannot renew: a webhook due to be sent is not", async () => {
    const a = await instance("too_short", "instance A");
    const now = Date.now();
    const webhook: WebhookDoc = {
      _id: "webhook-1",
      site: RECIPIENT,
      url: peer.url,
      payload: { type: "message" },
      status: "pending",
      rev: 0,
      attempts: 0,
      firstTriedAt: now,
      nextAttemptAt: 0,
      createdAt: now,
      updatedAt: now,
    };
    await a.store.insert("webhooks", webhook);
    let letGo!: () => void;
    const gate = new Promise<void>((resolve) => (letGo = resolve));
    const runningA = runLeased(
      a.engine,
      a.store.shared,
      "webhooks",
      webhook,
      (d: WebhookDoc) => d.status === "pending",
      async (d, lease) => {
        await gate;
        // The webhook job reads nothing more before its POST: only the lease can stop it.
        await runWebhook(a.engine, d, lease);
      },
      TIMES,
    );
    const leaseEnd = await until("A's lease", async () => {
      const d = await a.store.get<WebhookDoc>("webhooks", webhook._id);
      return d?.leasedBy === a.id && d.nextAttemptAt;
    });
    await pg.stop();
    // 1.5 s left: less than a step and the margin (2 s), not yet at the margin (1 s), and no renewal possible.
    await until("1.5 s before the lease's end", () => Date.now() >= leaseEnd - 1_500, 10_000, 5);
    letGo();
    const ended = await runningA.then(
      () => "its try ended",
      (error: Error) => error.message,
    );
    expect(peer.seen).toEqual([]);
    expect(ended).toBe("its try ended");
    await pg.start();
    // Nothing written: due again at the lease's end, for any instance.
    expect(await a.store.get<WebhookDoc>("webhooks", webhook._id)).toMatchObject({ status: "pending", attempts: 0, nextAttemptAt: leaseEnd, leasedBy: a.id });
  }, 60_000);

  it("cuts a discovery under way too: a dialback's GET of the sender's page ends before the lease's end, and the try writes nothing", async () => {
    const a = await instance("dialback", "instance A");
    const now = Date.now();
    const handshake: HandshakeDoc = {
      _id: "handshake-1",
      kind: "notify",
      // §3 step 3: the page of the sender named in the notify, here the peer's, which does not answer A.
      sender: peer.url,
      recipient: SENDER,
      message: `${peer.url}m/1`,
      state: "active",
      rev: 1,
      attempts: 0,
      nextAttemptAt: 0,
      createdAt: now,
      updatedAt: now,
    };
    await a.store.insert("handshakes", handshake);
    peer.hold(a.name);
    const runningA = runLeased(
      a.engine,
      a.store.shared,
      "handshakes",
      handshake,
      (d: HandshakeDoc) => d.state === "active",
      (d, lease) => runDialback(a.engine, d, lease),
      GET_TIMES,
    );
    const getA = await until("A's GET of the sender's page", () => peer.seen.find((s) => s.from === a.name));
    await pg.stop();
    const ended = await until("A's GET to end", () => getA.end, 15_000);
    const outcomeA = await runningA.then(
      () => "its try ended",
      (error: Error) => error.message,
    );
    await pg.start();
    // Cut at the margin before the lease's end (2.5 s), not at discovery's own 5 s limit (§1); nothing written.
    const left = (await a.store.get<HandshakeDoc>("handshakes", handshake._id))!;
    expect(left).toMatchObject({ state: "active", attempts: 0, leasedBy: a.id });
    expect(ended).toBeLessThan(left.nextAttemptAt - GET_TIMES.marginMs + 300);
    expect(outcomeA).toBe("its try ended");
    expect(peer.seen.map((s) => s.action)).toEqual(["GET"]);
  }, 60_000);
});
