/**
 * The engine on several processes (issue 11): two `createPmServer` engines, each with its
 * own `openPostgresStore` (its own pools, its own `shared.instance`) on one PostgreSQL
 * database, serving the same site behind one endpoint URL (a round-robin front on
 * loopback, as a load balancer would be). The recipient is a third engine, on memory, whose
 * endpoint counts the federation requests it gets, per action and per message.
 *
 * These tests live here rather than in core's tests: core does not depend on this
 * package (nor on test-support), and its tests cannot import them without a cycle.
 * Every wait is on stored state or on the server's own state, never a bare sleep.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createMemoryStore, createPmServer, type PmServer, type PmServerOptions } from "@indiepm/core";
import { createNodeHandler } from "@indiepm/core/node";
import { closeServer, freshDatabase, listenLoopback, postgresForTests, type FreshDatabase } from "@indiepm/test-support";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
// The lease itself, with a short lease (the engine's JOB_LEASE_MS is 30 s): core's own code, by path.
import type { Engine } from "../../core/src/protocol/engine.js";
import { runLeased } from "../../core/src/protocol/jobs/queue.js";
import { openPostgresStore, type PostgresStore } from "../src/index.js";

const quiet = { info() {}, warn() {}, error() {} };
/** Past any lease (`JOB_LEASE_MS`, 30 s): an instance whose clock is this far ahead sees every lease as run out. */
const PAST_ANY_LEASE_MS = 5 * 60_000;

interface JobView {
  _id: string;
  status: string;
  stage: string;
  message: string;
  nextAttemptAt: number;
  leasedBy?: string;
}

const server = await postgresForTests();

/** Polls `probe` until it answers something truthy (stored state), failing with `what` after `timeoutMs`. */
async function until<T>(what: string, probe: () => Promise<T | undefined | false | null>, timeoutMs = 20_000, everyMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

interface Recipient {
  site: string;
  endpoint: string;
  pm: PmServer;
  /** Federation POSTs received, by action. */
  actions: Map<string, number>;
  /** `deliver` POSTs received, by message ID. */
  delivers: Map<string, number>;
  /** GETs of the site's page. */
  siteGets(): number;
  /** Holds the next GET of the site's page unanswered until `release()`. */
  holdNextSiteGet(): { release(): void };
  close(): Promise<void>;
}

/** The recipient: a pm server on memory behind a tap that counts what it is sent, and its site naming it. */
async function startRecipient(): Promise<Recipient> {
  const endpointServer = createServer();
  const siteServer = createServer();
  const endpoint = await listenLoopback(endpointServer);
  const site = await listenLoopback(siteServer);
  const pm = createPmServer({ endpoint, sites: [site], store: createMemoryStore(), dev: true, logger: quiet });
  await pm.start();
  const actions = new Map<string, number>();
  const delivers = new Map<string, number>();
  endpointServer.on(
    "request",
    createNodeHandler(
      {
        handle: async (request, context) => {
          if (request.method === "POST") {
            const form = new URLSearchParams(await request.clone().text());
            const action = form.get("action") ?? "?";
            actions.set(action, (actions.get(action) ?? 0) + 1);
            if (action === "deliver") delivers.set(form.get("message")!, (delivers.get(form.get("message")!) ?? 0) + 1);
          }
          return pm.handle(request, context);
        },
      },
      { logger: quiet },
    ),
  );
  let gets = 0;
  let hold: ((res: ServerResponse) => void) | undefined;
  const held: ServerResponse[] = [];
  const page = (res: ServerResponse) => {
    res.setHeader("content-type", "text/html; charset=utf-8");
    res.end(`<!doctype html><title>R</title><link rel="pm" href="${endpoint}"><h1>R</h1>`);
  };
  siteServer.on("request", (_req: IncomingMessage, res: ServerResponse) => {
    gets++;
    if (hold) {
      const take = hold;
      hold = undefined;
      return take(res);
    }
    page(res);
  });
  return {
    site,
    endpoint,
    pm,
    actions,
    delivers,
    siteGets: () => gets,
    holdNextSiteGet() {
      hold = (res) => held.push(res);
      return {
        release: () => {
          for (const res of held.splice(0)) res.destroy();
        },
      };
    },
    async close() {
      for (const res of held.splice(0)) res.destroy();
      await Promise.all([endpointServer, siteServer].map(closeServer));
      await pm.close(500);
    },
  };
}

interface Instance {
  pm: PmServer;
  store: PostgresStore;
  /** `shared.instance`: what `leasedBy` names. */
  name: string;
  /** Added to this instance's clock (`now`). */
  offset: number;
  /** Whether the front sends requests to it. */
  alive: boolean;
}

interface Senders {
  site: string;
  endpoint: string;
  instances: Instance[];
  /** What the front answered from each instance, by index. */
  served: number[];
  close(): Promise<void>;
}

/**
 * `count` engines on one database (each its own store and pools) holding one site behind
 * one endpoint URL: a front on loopback passing requests round-robin to the live ones.
 * Not started: the test starts those it wants.
 */
async function startSenders(database: FreshDatabase, schema: string, count: number, options: Partial<PmServerOptions> = {}): Promise<Senders> {
  const front = createServer();
  const siteServer = createServer();
  const endpoint = await listenLoopback(front);
  const site = await listenLoopback(siteServer);
  siteServer.on("request", (_req, res) => {
    res.setHeader("content-type", "text/html; charset=utf-8");
    res.end(`<!doctype html><title>S</title><link rel="pm" href="${endpoint}"><h1>S</h1>`);
  });
  const instances: Instance[] = [];
  const handlers: ReturnType<typeof createNodeHandler>[] = [];
  for (let i = 0; i < count; i++) {
    const store = await openPostgresStore(database.url, { schema, poolSize: 4 });
    const instance: Instance = { store, name: store.shared.instance, offset: 0, alive: true } as Instance;
    instance.pm = createPmServer({ endpoint, sites: [site], store, dev: true, logger: quiet, now: () => Date.now() + instance.offset, ...options });
    instances.push(instance);
    handlers.push(createNodeHandler(instance.pm, { logger: quiet }));
  }
  const served = instances.map(() => 0);
  let next = 0;
  front.on("request", (req, res) => {
    const live = instances.map((_, i) => i).filter((i) => instances[i]!.alive);
    const i = live[next++ % live.length]!;
    served[i]!++;
    void handlers[i]!(req, res);
  });
  return {
    site,
    endpoint,
    instances,
    served,
    async close() {
      await Promise.all([front, siteServer].map((s: Server) => closeServer(s)));
      await Promise.all(instances.map((instance) => instance.pm.close(500)));
    },
  };
}

const deliveriesOf = (store: PostgresStore) => store.find<JobView & { _id: string }>("deliveries", {});

describe.skipIf(server.skipReason)("several engines on one PostgreSQL database", () => {
  let database: FreshDatabase;
  const cleanups: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    database = await freshDatabase();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    await database?.drop();
  });

  it("runs each delivery on one instance at a time: N token-flow messages sent from both, each delivered once", async () => {
    const recipient = await startRecipient();
    cleanups.push(() => recipient.close());
    const senders = await startSenders(database, "each_once", 2);
    cleanups.push(() => senders.close());
    const [a, b] = senders.instances as [Instance, Instance];
    await Promise.all([a.pm.start(), b.pm.start()]);

    const n = 24;
    const sent: string[] = [];
    for (let i = 0; i < n; i++) {
      const from = i % 2 === 0 ? a : b;
      sent.push((await from.pm.send({ from: senders.site, to: [recipient.site], content: `message ${i}`, flow: "token" })).message);
    }
    const settled = await until("every delivery to settle", async () => {
      const docs = await deliveriesOf(a.store);
      return docs.length === n && docs.every((d) => d.status !== "pending") ? docs : undefined;
    });

    expect(settled.map((d) => d.status)).toEqual(Array(n).fill("delivered"));
    // Each message reached the recipient in exactly one deliver, whichever instance ran it.
    expect(new Map([...recipient.delivers].filter(([, times]) => times !== 1))).toEqual(new Map());
    expect([...recipient.delivers.keys()].sort()).toEqual([...sent].sort());
    expect(await recipient.pm.inbox()).toHaveLength(n);
    // Both instances took part: leases name both (and nothing else).
    const holders = new Set(settled.map((d) => d.leasedBy));
    expect([...holders].every((h) => h === a.name || h === b.name)).toBe(true);
  });

  it("leaves the job of an instance that died holding its lease to the other once the lease has run out", async () => {
    const recipient = await startRecipient();
    cleanups.push(() => recipient.close());
    const senders = await startSenders(database, "dead_holder", 2);
    cleanups.push(() => senders.close());
    const [a, b] = senders.instances as [Instance, Instance];
    // A takes the delivery and hangs in its step 1 (the recipient's page does not answer).
    const hold = recipient.holdNextSiteGet();
    cleanups.push(async () => hold.release());
    await a.pm.start();
    const { message } = await a.pm.send({ from: senders.site, to: [recipient.site], content: "taken over", flow: "message" });
    await until("A's step 1 to reach the recipient's page", async () => recipient.siteGets() === 1);
    const leased = (await deliveriesOf(b.store))[0]!;
    expect(leased).toMatchObject({ status: "pending", stage: "discover", leasedBy: a.name });
    expect(leased.nextAttemptAt).toBeGreaterThan(Date.now());

    // B runs beside it and leaves the leased job alone.
    await b.pm.start();
    await b.pm.idle();
    expect((await deliveriesOf(b.store))[0]).toMatchObject({ leasedBy: a.name, nextAttemptAt: leased.nextAttemptAt });
    expect(recipient.siteGets()).toBe(1);

    // A dies: its connections close, the front stops sending it anything, and it never writes again.
    a.alive = false;
    await a.store.close();
    // Once the lease has run out (by B's clock), the job is B's.
    b.offset = PAST_ANY_LEASE_MS;
    await b.pm.idle();
    const done = await until("B to deliver the message", async () => {
      const doc = (await deliveriesOf(b.store))[0];
      return doc?.status === "delivered" ? doc : undefined;
    });
    expect(done.leasedBy).toBe(b.name);
    // A never got past step 1: the one notify and the one deliver are B's.
    expect(recipient.actions.get("notify")).toBe(1);
    expect(recipient.delivers.get(message)).toBe(1);
  });

  it("wakes the other instances at once: a delivery written on A while A's queue is stopped is started by B within a second", async () => {
    const recipient = await startRecipient();
    cleanups.push(() => recipient.close());
    const senders = await startSenders(database, "wake", 2);
    cleanups.push(() => senders.close());
    const [a, b] = senders.instances as [Instance, Instance];
    await b.pm.start();
    await b.pm.idle();
    // B's LISTEN connection is open (the server's own view of it), so what follows is not a race with its start.
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    cleanups.push(() => admin.end());
    await until("B to LISTEN", async () => {
      const { rows } = await admin.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'");
      return rows[0].n > 0;
    });

    const { message } = await a.pm.send({ from: senders.site, to: [recipient.site], content: "wake up", flow: "message" });
    const written = Date.now();
    const taken = await until(
      "B to take the delivery",
      async () => {
        const doc = (await deliveriesOf(a.store))[0];
        return doc?.leasedBy === b.name ? Date.now() : undefined;
      },
      5_000,
      5,
    );
    expect(taken - written).toBeLessThan(1_000);
    await until("the message to be delivered", async () => (await deliveriesOf(a.store))[0]?.status === "delivered");
    expect(recipient.delivers.get(message)).toBe(1);
  });

  it("takes the per-pair handshake lock across instances: A's §4 handshake waits while another instance holds the lock of its (S, R, E_R)", async () => {
    const recipient = await startRecipient();
    cleanups.push(() => recipient.close());
    const senders = await startSenders(database, "pair_lock", 2);
    cleanups.push(() => senders.close());
    const [a, b] = senders.instances as [Instance, Instance];
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    cleanups.push(() => admin.end());
    const waiting = async () =>
      (
        await admin.query(
          "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
      ).rows[0].n;
    // B holds the lock of the pair (jobs/delivery.ts names it by sender, recipient and E_R).
    let release!: () => void;
    let holding!: () => void;
    const held = new Promise<void>((resolve) => (holding = resolve));
    const lock = b.store.shared.withLock(`handshake ${senders.site} ${recipient.site} ${recipient.endpoint}`, async () => {
      holding();
      await new Promise<void>((resolve) => (release = resolve));
    });
    await held;
    cleanups.push(async () => release());
    await a.pm.start();
    const { message } = await a.pm.send({ from: senders.site, to: [recipient.site], content: "one handshake", flow: "token" });
    // A's delivery found no standing token and waits for the lock (the server's own view): no authorize went out.
    await until("A's handshake to wait for the pair's lock", async () => (await waiting()) === 1);
    expect(recipient.actions.get("authorize")).toBeUndefined();
    release();
    await lock;
    await until("the message to be delivered", async () => (await deliveriesOf(a.store))[0]?.status === "delivered");
    expect(recipient.actions.get("authorize")).toBe(1);
    expect(recipient.delivers.get(message)).toBe(1);
  });

  it("renews a running job's lease every third of it, so no other instance takes the job however long it runs; the job's own write ends the lease", async () => {
    const leaseMs = 300;
    // The lease's times, shortened alike (jobs/queue.ts LeaseTimes): this job makes no request.
    const times = { leaseMs, marginMs: 50, stepMs: 100 };
    const stores: PostgresStore[] = [];
    for (let i = 0; i < 2; i++) stores.push(await openPostgresStore(database.url, { schema: "renew", poolSize: 2 }));
    cleanups.push(async () => {
      for (const store of stores) await store.close();
    });
    const [a, b] = stores as [PostgresStore, PostgresStore];
    const engineOf = (store: PostgresStore) => ({ store, now: Date.now, log: quiet }) as unknown as Engine;
    type Job = { _id: string; rev: number; status: string; nextAttemptAt: number; leasedBy?: string };
    await a.insert<Job>("webhooks", { _id: "job", rev: 0, status: "pending", nextAttemptAt: 0 });
    const pending = (d: Job) => d.status === "pending";
    const read = async () => (await a.get<Job>("webhooks", "job"))!;

    let wrote!: () => void;
    let finish!: () => void;
    const running = runLeased(
      engineOf(a),
      a.shared,
      "webhooks",
      await read(),
      pending,
      async (doc) => {
        await new Promise<void>((resolve) => (wrote = resolve));
        // The job's own write (a back-off, the §6 wait: what every job write path sets, or a
        // final status) while it still runs, as notify's does before its POST.
        await a.update<Job>("webhooks", doc._id, { set: { nextAttemptAt: 1 } });
        await new Promise<void>((resolve) => (finish = resolve));
      },
      times,
    );
    const first = await until("A's lease", async () => {
      const doc = await read();
      return doc.leasedBy === a.shared.instance ? doc.nextAttemptAt : undefined;
    });
    // Four lease lengths later, renewed all along: B, trying all the while, never gets it.
    let bRan = 0;
    const deadline = Date.now() + 4 * leaseMs;
    while (Date.now() < deadline) {
      await runLeased(engineOf(b), b.shared, "webhooks", await read(), pending, async () => void bRan++, times);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const renewed = await read();
    expect(bRan).toBe(0);
    expect(renewed.leasedBy).toBe(a.shared.instance);
    expect(renewed.nextAttemptAt).toBeGreaterThan(first + 2 * (leaseMs / 3));
    // The job's write ends the lease: over two more lease lengths of the job running, no renewal moves it.
    wrote();
    await until("the job's write", async () => (await read()).nextAttemptAt === 1);
    await new Promise((resolve) => setTimeout(resolve, 2 * leaseMs));
    expect((await read()).nextAttemptAt).toBe(1);
    finish();
    await running;
    // And due again, it is anyone's.
    await runLeased(engineOf(b), b.shared, "webhooks", await read(), pending, async () => void bRan++, times);
    expect(bRan).toBe(1);
  });

  it("sweeps on every instance at once, each finished handshake and expired secret removed once", async () => {
    const swept = { handshakes: 0, secrets: 0 };
    const errors: string[] = [];
    const logger = {
      info(message: string, data?: Record<string, unknown>) {
        if (message.startsWith("swept")) for (const k of ["handshakes", "secrets"] as const) swept[k] += Number(data?.[k] ?? 0);
      },
      warn() {},
      error: (message: string) => errors.push(message),
    };
    const senders = await startSenders(database, "sweep", 2, { logger });
    cleanups.push(() => senders.close());
    const [a, b] = senders.instances as [Instance, Instance];
    const n = 300;
    for (let i = 0; i < n; i++) {
      const party = { sender: "http://127.0.0.1:9/s/", recipient: senders.site, message: `http://127.0.0.1:9/s/m/${i}` };
      await a.store.insert("handshakes", {
        _id: `h${i}`,
        kind: "notify",
        ...party,
        state: i % 2 ? "done" : "failed",
        rev: 1,
        attempts: 0,
        nextAttemptAt: 0,
        createdAt: 0,
        updatedAt: 0,
      });
      await a.store.insert("secrets", { _id: `s${i}`, kind: "message-token", ...party, createdAt: 0, expiresAt: 0 });
    }
    // Both sweep when they start (each its first sweep), over the same documents.
    await Promise.all([a.pm.start(), b.pm.start()]);
    await Promise.all([a.pm.idle(), b.pm.idle()]);
    expect(await a.store.count("handshakes")).toBe(0);
    expect(await a.store.count("secrets")).toBe(0);
    expect(swept).toEqual({ handshakes: n, secrets: n });
    expect(errors).toEqual([]);
  });

  it("counts the §6 notify limits across instances: per sender site and per client address", async () => {
    const receivers = await startSenders(database, "limits", 2, { rateLimits: { perSenderPerMinute: 3, perClientPerMinute: 5 } });
    cleanups.push(() => receivers.close());
    const [a, b] = receivers.instances as [Instance, Instance];
    const notify = (to: Instance, sender: string, i: number) =>
      to.pm.handle(
        new Request(receivers.endpoint, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ action: "notify", sender, recipient: receivers.site, message: `${sender}m/${i}` }),
        }),
        { clientAddress: "192.0.2.7" },
      );
    const s1 = "http://127.0.0.1:9/s1/";
    // Three from one sender, spread over both instances: all under the limit of 3.
    for (const [i, to] of [a, b, a].entries()) expect((await notify(to, s1, i)).status).toBe(202);
    // The fourth, on B (which saw only one of them), is over the sender's limit.
    const fourth = await notify(b, s1, 3);
    expect(fourth.status).toBe(429);
    expect(Number(fourth.headers.get("retry-after"))).toBeGreaterThan(0);
    // The client has now been counted 4 times: one more is allowed, the next refused, whichever instance.
    expect((await notify(a, "http://127.0.0.1:9/s2/", 0)).status).toBe(202);
    const sixth = await notify(b, "http://127.0.0.1:9/s3/", 0);
    expect(sixth.status).toBe(429);
    expect(await sixth.json()).toMatchObject({ error: "rate_limited" });
  });
});
