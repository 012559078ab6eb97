/**
 * The seed's four hosts as real HTTP servers on loopback (STYLE.md practice 9): two
 * sites that name their pm endpoint with rel=pm, and two pm servers. Every call makes
 * fresh ports and a fresh data folder, or empty PostgreSQL schemas where the suite chose
 * that store (stores.ts).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { join } from "node:path";
import {
  createHttpClient,
  createPmServer,
  openNedbStore,
  type HttpClient,
  type PmServer,
  type PmServerOptions,
  type ProtocolEvent,
  type Store,
} from "@indiepm/core";
import { createNodeHandler } from "@indiepm/core/node";
import { withWebInbox } from "@indiepm/cli";
import { closeServer, listenLoopback, tempDir } from "@indiepm/test-support";
import { createWebInbox, type WebInbox } from "@indiepm/web";
import { storeInUse, type PostgresDatabase, type StoreLocation } from "./stores.js";

export type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** Every loopback host of this process that may still act (see `allIdle`). */
const live = new Set<LoopbackHost>();

/**
 * A loopback HTTP server whose handler can be swapped; `stop()`/`resume()` close and reopen
 * the same port. It counts the requests it began answering (`handled`) and those still
 * being answered, so tests can wait for settled state (`allIdle`) instead of sleeping.
 */
export class LoopbackHost {
  server: Server | undefined;
  port = 0;
  /** Requests (and other tracked work) this host began, ever. */
  handled = 0;
  #busy = 0;
  #waiters: (() => void)[] = [];
  handler: Listener = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  /** Counts `work` as this host's until it ends (a scripted endpoint's work after its answer). */
  track<T>(work: Promise<T>): Promise<T> {
    this.handled++;
    this.#busy++;
    const end = () => {
      if (--this.#busy > 0) return;
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const resolve of waiters) resolve();
    };
    work.then(end, end);
    return work;
  }

  get busy(): boolean {
    return this.#busy > 0;
  }

  /** Resolves once no request is being answered here (a pm host: and its engine is idle). */
  async idle(): Promise<void> {
    while (this.#busy > 0) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  /** Whether this host may still act after its port closed (a pm server's engine runs on). */
  protected actsWhileStopped(): boolean {
    return false;
  }

  async listen(): Promise<this> {
    const server = createServer((req, res) => {
      void this.track(new Promise((resolve) => res.once("close", resolve)));
      this.handler(req, res);
    });
    live.add(this);
    server.keepAliveTimeout = 500;
    this.port = Number(new URL(await listenLoopback(server, this.port)).port);
    this.server = server;
    return this;
  }

  /** Closes the port (connections refused from now on). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!this.actsWhileStopped()) live.delete(this);
    if (!server) return;
    await closeServer(server);
  }

  /** Opens the same port again. */
  async resume(): Promise<void> {
    if (!this.server) await this.listen();
  }
}

/** A personal site: its home page names `endpoint` with `<link rel="pm">` (or a Link header). */
export class Site extends LoopbackHost {
  endpoint = "";
  /** How the page names its endpoint. */
  mode: "html" | "link-header" | "none" = "html";
  requests = 0;
  /** More of the page's head (IndieAuth's `<link rel="indieauth-metadata">`, for the web inbox's sign-in). */
  head = "";
  /** More `Link` header values. */
  links: string[] = [];
  /** The page's body (an h-card, for the web inbox's names and photos). */
  body = "<h1>Home</h1>";
  /** More response headers (`cache-control`, for §1 discovery caching). */
  headers: Record<string, string> = {};

  constructor() {
    super();
    this.handler = (_req, res) => {
      this.requests++;
      const links = [...this.links, ...(this.mode === "link-header" ? [`<${this.endpoint}>; rel="pm"`] : [])];
      if (links.length > 0) res.setHeader("link", links.join(", "));
      for (const [name, value] of Object.entries(this.headers)) res.setHeader(name, value);
      res.setHeader("content-type", "text/html; charset=utf-8");
      const link = this.mode === "html" ? `<link rel="pm" href="${this.endpoint}">` : "";
      res.end(`<!doctype html><html><head><title>${this.url}</title>${link}${this.head}</head><body>${this.body}</body></html>`);
    };
  }
}

export interface PmHostOptions {
  sites: string[];
  /** The nedb data folder: the store unless `postgres` is given. */
  dataDir: string;
  /** Keep the state in this schema of a describe block's PostgreSQL database instead (stores.ts; opened anew by `restart`). */
  postgres?: { database: PostgresDatabase; schema: string };
  overrides?: Partial<PmServerOptions>;
  events?: ProtocolEvent[];
  /** Wraps the store as it is opened (tests that inject storage failures). */
  wrapStore?: (store: Store) => Store;
  /** Serve the owner's web inbox at the root too (`POST /` and `/api/` stay the engine's), as `indiepm serve` does. */
  inbox?: boolean;
  /**
   * Defers every outbound request of the engine by this many ms (default: the
   * `INDIEPM_TEST_DEFER_MS` environment variable, else none): side effects such as a
   * dialback start late, as on a slow machine. A check that passes only because it looked
   * before the work began fails under it; one that awaits settled state does not.
   */
  deferOutboundMs?: number;
}

/** The outbound client of a pm host whose requests start `ms` late. */
function deferredHttp(ms: number): HttpClient & { close(): Promise<void> } {
  const real = createHttpClient({ dev: true });
  const later = () => new Promise((resolve) => setTimeout(resolve, ms));
  return {
    get: async (url, options) => (await later(), real.get(url, options)),
    postForm: async (url, form, options) => (await later(), real.postForm(url, form, options)),
    postJson: async (url, body, options) => (await later(), real.postJson!(url, body, options)),
    close: () => real.close(),
  };
}

/** The deferral `INDIEPM_TEST_DEFER_MS` asks for (see `PmHostOptions.deferOutboundMs`). */
export const DEFER_OUTBOUND_MS = Number(process.env.INDIEPM_TEST_DEFER_MS ?? 0);

/** A pm server (E in PROTOCOL.md) on a loopback port, with a nedb store in its data folder (or a PostgreSQL schema). */
export class PmHost extends LoopbackHost {
  pm!: PmServer;
  store!: Store;
  options!: PmHostOptions;
  inbox: WebInbox | undefined;
  #running = false;
  #ownHttp: (HttpClient & { close(): Promise<void> }) | undefined;

  /** Opens the store and starts the engine; `restarting`: the store is opened anew (PostgreSQL: not the block's kept one, stores.ts). */
  async startServer(options: PmHostOptions, restarting = false): Promise<this> {
    this.options = options;
    if (!this.server) await this.listen();
    const opened = options.postgres
      ? await options.postgres.database.store(options.postgres.schema, { reopen: restarting })
      : await openNedbStore({ dir: options.dataDir });
    this.store = options.wrapStore ? options.wrapStore(opened) : opened;
    const deferMs = options.deferOutboundMs ?? DEFER_OUTBOUND_MS;
    this.#ownHttp = deferMs > 0 && !options.overrides?.http ? deferredHttp(deferMs) : undefined;
    this.pm = createPmServer({
      endpoint: this.url,
      sites: options.sites,
      store: this.store,
      dev: true,
      ownerToken: OWNER_TOKEN,
      retry: { baseDelayMs: 50, maxDelayMs: 400, handshakeTimeoutMs: 3_000, giveUpAfterMs: 60_000 },
      logger: quietLogger,
      ...(options.events ? { onEvent: (e: ProtocolEvent) => options.events!.push(e) } : {}),
      ...(this.#ownHttp ? { http: this.#ownHttp } : {}),
      ...options.overrides,
    });
    this.inbox = options.inbox ? createWebInbox({ server: this.pm, url: this.url, logger: quietLogger, pollSeconds: 1 }) : undefined;
    this.handler = createNodeHandler(this.inbox ? withWebInbox(this.pm, this.inbox) : this.pm, { logger: quietLogger });
    await this.pm.start();
    this.#running = true;
    live.add(this);
    return this;
  }

  protected override actsWhileStopped(): boolean {
    return this.#running;
  }

  /** Resolves once no request is being answered here and the engine is idle (`PmServer.idle`). */
  override async idle(): Promise<void> {
    await super.idle();
    if (this.#running) await this.pm.idle();
  }

  /** Stops the engine and the port, as a crash-free shutdown would. */
  async shutdown(): Promise<void> {
    this.#running = false;
    await this.stop();
    live.delete(this);
    await this.pm.close(1_000);
    await this.#ownHttp?.close();
    await this.inbox?.close();
  }

  /** Starts again on the same port with the same data folder (or schema): stored work resumes. */
  async restart(): Promise<void> {
    await this.resume();
    await this.startServer(this.options, true);
  }
}

export const OWNER_TOKEN = "owner-token-for-tests-0123456789";

export const quietLogger = {
  info: () => {},
  warn: () => {},
  error: (message: string, data?: Record<string, unknown>) => {
    if (process.env.INDIEPM_TEST_LOG) console.error(message, data);
  },
};

export interface FourHosts {
  alice: { site: Site; pm: PmHost };
  bob: { site: Site; pm: PmHost };
  /** Every protocol step either pm server made. */
  events: ProtocolEvent[];
  dataDir: string;
  /** Where both pm servers keep their state (PostgreSQL: schemas `alice` and `bob` of `store.database`). */
  store: StoreLocation;
  /** `allIdle()`: every host of this process settled. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/** The four URLs, known once the ports are open (for overrides keyed by site, e.g. `policies`). */
export interface HostUrls {
  aliceSite: string;
  bobSite: string;
  alicePm: string;
  bobPm: string;
}

/** Options for one pm server: fixed, or computed from the four URLs. */
export type HostOverrides = Partial<PmServerOptions> | ((urls: HostUrls) => Partial<PmServerOptions>);

export interface FourHostsOptions {
  alice?: HostOverrides;
  bob?: HostOverrides;
  /** Both pm servers also serve the web inbox at their root. */
  inbox?: boolean;
  /** Wraps a pm server's store as it is opened (again on every restart). */
  wrapStore?: { alice?: (store: Store) => Store; bob?: (store: Store) => Store };
  /** A pm server's outbound requests start this late (`PmHostOptions.deferOutboundMs`). */
  deferOutboundMs?: { alice?: number; bob?: number };
  /** Where the pm servers keep their state (default: the describe block's `useStore`, else nedb). */
  store?: StoreLocation;
}

/**
 * alice.example.org → pm.alice.example.uk, bob.example.com → pm.bob.example.net, on
 * loopback. `overrides` apply to both pm servers (or per side).
 */
export async function fourHosts(options: FourHostsOptions = {}): Promise<FourHosts> {
  const folder = await tempDir("indiepm-e2e-");
  const dataDir = folder.path;
  const store = options.store ?? storeInUse();
  if (store.kind === "postgres") await store.database.empty(["alice", "bob"]);
  const postgres = (schema: string) => (store.kind === "postgres" ? { postgres: { database: store.database, schema } } : {});
  const events: ProtocolEvent[] = [];
  const aliceSite = await new Site().listen();
  const bobSite = await new Site().listen();
  const alicePm = await new PmHost().listen();
  const bobPm = await new PmHost().listen();
  aliceSite.endpoint = alicePm.url;
  bobSite.endpoint = bobPm.url;
  const urls: HostUrls = { aliceSite: aliceSite.url, bobSite: bobSite.url, alicePm: alicePm.url, bobPm: bobPm.url };
  const resolve = (o: HostOverrides | undefined) => (typeof o === "function" ? o(urls) : o);
  const aliceOverrides = resolve(options.alice);
  const bobOverrides = resolve(options.bob);
  await alicePm.startServer({
    sites: [aliceSite.url],
    dataDir: join(dataDir, "alice"),
    ...postgres("alice"),
    events,
    ...(aliceOverrides ? { overrides: aliceOverrides } : {}),
    ...(options.wrapStore?.alice ? { wrapStore: options.wrapStore.alice } : {}),
    ...(options.deferOutboundMs?.alice === undefined ? {} : { deferOutboundMs: options.deferOutboundMs.alice }),
    ...(options.inbox ? { inbox: true } : {}),
  });
  await bobPm.startServer({
    sites: [bobSite.url],
    dataDir: join(dataDir, "bob"),
    ...postgres("bob"),
    events,
    ...(bobOverrides ? { overrides: bobOverrides } : {}),
    ...(options.wrapStore?.bob ? { wrapStore: options.wrapStore.bob } : {}),
    ...(options.deferOutboundMs?.bob === undefined ? {} : { deferOutboundMs: options.deferOutboundMs.bob }),
    ...(options.inbox ? { inbox: true } : {}),
  });
  return {
    alice: { site: aliceSite, pm: alicePm },
    bob: { site: bobSite, pm: bobPm },
    events,
    dataDir,
    store,
    idle: allIdle,
    async close() {
      await Promise.allSettled([alicePm.shutdown(), bobPm.shutdown(), aliceSite.stop(), bobSite.stop()]);
      await folder.remove();
    },
  };
}

/** The running pm host whose endpoint is `url` (for requests made in-process, `PmServer.handle`). */
export function pmHostAt(url: string): PmHost | undefined {
  return [...live].find((h): h is PmHost => h instanceof PmHost && h.url === url);
}

/**
 * Resolves once this process's loopback hosts have settled: every pm engine idle
 * (`PmServer.idle`: nothing running or due now), no request being answered anywhere, and
 * no request begun meanwhile (one engine's work may start another's). Work due later (a
 * back-off) does not count. Await it, then assert on the stores and on what each host
 * recorded: "nothing happened" then holds however slowly anything would have started.
 */
export async function allIdle(): Promise<void> {
  const begun = (hosts: LoopbackHost[]) => hosts.reduce((n, h) => n + h.handled, 0);
  for (;;) {
    const hosts = [...live];
    const before = begun(hosts);
    await Promise.all(hosts.map((h) => h.idle()));
    if (live.size === hosts.length && begun(hosts) === before && !hosts.some((h) => h.busy)) return;
  }
}

/** What a pm server's store holds of the protocol's work and secrets, collection by collection. */
export async function storeCounts(store: Store): Promise<Record<"handshakes" | "secrets" | "deliveries" | "inbox" | "outbox" | "grants" | "webhooks", number>> {
  const names = ["handshakes", "secrets", "deliveries", "inbox", "outbox", "grants", "webhooks"] as const;
  const counts = await Promise.all(names.map((name) => store.count(name)));
  return Object.fromEntries(names.map((name, i) => [name, counts[i]!])) as Record<(typeof names)[number], number>;
}

/** Polls `check` until it returns a truthy value (or throws after `timeoutMs`). */
export async function waitFor<T>(check: () => Promise<T> | T, timeoutMs = 10_000, what = "the condition"): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await check();
    if (last) return last as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The delivery of `message` to `recipient` once it is no longer pending. */
export async function settled(pm: PmServer, message: string, timeoutMs = 10_000) {
  return waitFor(
    async () => {
      const sent = (await pm.getMessage(message)).sent;
      return sent?.deliveries.every((d) => d.status !== "pending") ? sent : undefined;
    },
    timeoutMs,
    `the deliveries of ${message} to settle`,
  );
}

/** A raw federation POST, as another implementation (or an attacker) would send it. */
export async function postForm(
  url: string,
  params: Record<string, string | string[]>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) for (const x of Array.isArray(v) ? v : [v]) form.append(k, x);
  const res = await fetch(url, { method: "POST", body: form, headers });
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, body, headers: res.headers };
}
