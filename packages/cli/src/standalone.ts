/**
 * The standalone pm server (`indiepm serve`, and in-process for the demo and tests): a
 * node:http server whose root URL is the federation endpoint (`POST /`) and whose
 * `api/` is the owner API, both answered by the engine through `createNodeHandler`;
 * every other path is the owner's web inbox (`@indiepm/web`), `GET /` first
 * (with-web-inbox.ts).
 */
import { mkdir } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { resolve } from "node:path";
import { PmError, createPmServer, openNedbStore } from "@indiepm/core";
import type { Logger, PmServer, PmServerOptions, Store } from "@indiepm/core";
import { createNodeHandler } from "@indiepm/core/node";
import { createWebInbox, type WebInbox } from "@indiepm/web";
import { sentence, usageError } from "./cli-error.js";
import { DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT, SHUTDOWN_GRACE_MS } from "./defaults.js";
import { withWebInbox } from "./with-web-inbox.js";

export interface StartServerOptions extends Partial<Omit<PmServerOptions, "endpoint" | "store">> {
  /** Port to listen on (default 8080; 0 picks a free one). */
  port?: number;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Folder of the embedded store (default `./.indiepm`); ignored when `store` or `database` is given. */
  dataDir?: string;
  /**
   * A PostgreSQL URL (`serve --database`): the store is `@indiepm/store-postgres`'s, whose
   * tables are created or upgraded as it opens; nothing is kept in a data folder. Ignored
   * when `store` is given.
   */
  database?: string;
  /** A store to use instead of the embedded one (tests: `createMemoryStore()`). */
  store?: Store;
  /** The endpoint URL as the world sees it (default `http://HOST:PORT/` with the bound port). */
  publicUrl?: string;
  /**
   * The owner's web inbox at the root URL (`GET /`; `POST /` stays the federation
   * endpoint), signed in with IndieAuth. Default `true`; `false` leaves the engine's
   * short page at `GET /`.
   */
  inbox?: boolean;
}

export interface StandaloneServer {
  /** The endpoint URL (canonical), what the sites' rel=pm name. */
  readonly url: string;
  /** The web inbox at the root URL, unless `inbox: false`. */
  readonly inbox: WebInbox | undefined;
  /** The port actually bound. */
  readonly port: number;
  readonly host: string;
  readonly server: PmServer;
  readonly httpServer: Server;
  /**
   * Stops taking requests, lets accepted ones finish, then closes the engine and its
   * store; all within `graceMs` (default 10 s). Idempotent.
   */
  close(graceMs?: number): Promise<void>;
}

/** Logs to stderr, never stdout: `serve`'s stdout starts with its listening line. */
export function stderrLogger(write: (text: string) => void = (t) => void process.stderr.write(t)): Logger {
  const line = (level: string, message: string, data?: Record<string, unknown>): void => {
    write(`${new Date().toISOString()} ${level} ${message}${data && Object.keys(data).length > 0 ? ` ${JSON.stringify(data)}` : ""}\n`);
  };
  return {
    info: (message, data) => line("info", message, data),
    warn: (message, data) => line("warn", message, data),
    error: (message, data) => line("error", message, data),
  };
}

/** `http://HOST:PORT/`, with IPv6 literals in brackets. */
export function defaultPublicUrl(host: string, port: number): string {
  const shown = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return new URL(`http://${shown}:${port}/`).href;
}

function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolvePromise, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      server.off("listening", onListening);
      const why =
        error.code === "EADDRINUSE"
          ? `port ${port} on ${host} is already in use`
          : error.code === "EACCES"
            ? `no permission to listen on port ${port}`
            : error.code === "EADDRNOTAVAIL" || error.code === "ENOTFOUND"
              ? `${host} is not an address of this machine`
              : `cannot listen on ${host}:${port} (${error.code ?? error.message})`;
      reject(new Error(why, { cause: error }));
    };
    const onListening = (): void => {
      server.off("error", onError);
      resolvePromise(server.address() as AddressInfo);
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(port, host);
  });
}

function delay(ms: number): { promise: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolvePromise) => {
    timer = setTimeout(resolvePromise, ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

/**
 * Starts a standalone server: opens the store, listens, then creates and starts the
 * engine with the endpoint URL known (the bound port when `publicUrl` is not given).
 * Requests that arrive before the engine is ready are answered 503.
 * @throws CliError (exit 2) when the engine refuses an option (its `PmError` as `cause`); an Error saying why it cannot listen.
 */
export async function startServer(options: StartServerOptions = {}): Promise<StandaloneServer> {
  const { port = DEFAULT_PORT, host = DEFAULT_HOST, dataDir, database, store: givenStore, publicUrl, inbox: withInbox = true, ...engineOptions } = options;
  const logger = engineOptions.logger ?? stderrLogger();

  let store: Store;
  if (givenStore) {
    store = givenStore;
  } else if (database !== undefined) {
    // Loaded only here: a server on the embedded store never loads the driver.
    const { openPostgresStore } = await import("@indiepm/store-postgres");
    store = await openPostgresStore(database);
  } else {
    const dir = resolve(dataDir ?? DEFAULT_DATA_DIR);
    await mkdir(dir, { recursive: true });
    store = await openNedbStore({ dir });
  }

  let handler: ReturnType<typeof createNodeHandler> | undefined;
  const httpServer = createServer((req, res) => {
    if (handler) return handler(req, res);
    res.writeHead(503, { "content-type": "application/json; charset=utf-8", "retry-after": "1", "cache-control": "no-store" });
    // CLI.md: GET /health answers {"status": "unavailable"} until the server can serve.
    const health = req.method === "GET" && req.url?.split("?")[0] === "/health";
    res.end(JSON.stringify(health ? { status: "unavailable" } : { error: "temporarily_unavailable", error_description: "The server is starting." }));
  });

  // A request node:http cannot parse (broken framing, a body that ends early) never
  // reaches the engine; it still gets the §2 JSON error instead of Node's bare 400.
  httpServer.on("clientError", (error: NodeJS.ErrnoException, socket) => {
    if (error.code === "ECONNRESET" || !socket.writable) {
      socket.destroy();
      return;
    }
    const body = JSON.stringify({ error: "invalid_request", error_description: "The request is not valid HTTP/1.1." });
    socket.end(
      `HTTP/1.1 400 Bad Request\r\ncontent-type: application/json; charset=utf-8\r\ncache-control: no-store\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  });

  let engine: PmServer;
  let address: AddressInfo;
  try {
    address = await listen(httpServer, port, host);
    const endpoint = publicUrl ?? defaultPublicUrl(host, address.port);
    engine = createPmServer({ ...engineOptions, sites: engineOptions.sites ?? [], endpoint, store, logger });
  } catch (error) {
    httpServer.close();
    await store.close().catch(() => undefined);
    // The engine's refusal of an option crosses into this package as a usage error, its PmError the cause.
    if (error instanceof PmError && error.code === "invalid_config") throw usageError(sentence(error), { cause: error });
    throw error;
  }
  try {
    await engine.start();
  } catch (error) {
    httpServer.close();
    await engine.close(0).catch(() => undefined);
    throw error;
  }
  const inbox = withInbox ? createWebInbox({ server: engine, url: engine.endpoint, logger }) : undefined;
  // The engine's checked trustProxy: withWebInbox's handler does not carry it.
  handler = createNodeHandler(inbox ? withWebInbox(engine, inbox) : engine, {
    logger,
    trustProxy: engine.trustProxy,
    ...(engineOptions.maxBodyBytes === undefined ? {} : { maxBodyBytes: engineOptions.maxBodyBytes }),
  });

  let closing: Promise<void> | undefined;
  const close = (graceMs = SHUTDOWN_GRACE_MS): Promise<void> => {
    closing ??= (async () => {
      const deadline = Date.now() + graceMs;
      const stopped = new Promise<void>((resolvePromise) => httpServer.close(() => resolvePromise()));
      // Keep-alive connections that go idle while we wait would hold close() open.
      const idle = setInterval(() => httpServer.closeIdleConnections(), 50);
      const timeout = delay(graceMs);
      try {
        httpServer.closeIdleConnections();
        await Promise.race([stopped, timeout.promise]);
      } finally {
        clearInterval(idle);
        timeout.cancel();
        httpServer.closeAllConnections();
      }
      await engine.close(Math.max(0, deadline - Date.now()));
      await inbox?.close();
    })();
    return closing;
  };

  return { url: engine.endpoint, inbox, port: address.port, host, server: engine, httpServer, close };
}
