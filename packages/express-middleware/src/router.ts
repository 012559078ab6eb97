/**
 * `indiepm(options)`: an Express 5 router that hands every request under its mount path
 * to the engine (`PmServer.handle`). The body is read here, raw and under the §2 limit,
 * so the host app's body parsers neither help nor get in the way.
 */
import express from "express";
import type { Router } from "express";
import { createPmServer, openNedbStore } from "@indiepm/core";
import { TRUST_PROXY_OFF } from "@indiepm/core/node";
import type { PmServer, Store } from "@indiepm/core";
import { deferredStore } from "./deferred-store.js";
import { parseOptions, type IndiePmOptions } from "./options.js";
import { describeFailure, errorLogger, warningLogger, webHandler } from "./web-bridge.js";

/** The router `indiepm()` returns, with a handle on its engine. */
export interface IndiePmRouter extends Router {
  /** The engine answering this router's requests. */
  readonly server: PmServer;
  /**
   * Settles once the engine is started. The router starts an engine it created (resuming
   * stored deliveries); one passed as `server` is the app's to start.
   */
  readonly ready: Promise<void>;
  /** Closes an engine this router created (at most `graceMs`, default 10 s); a no-op for one passed as `server`. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Creates the router. Options are checked here, once (the engine's by core's
 * `resolvePmServerOptions`): a wrong one throws `IndiePmExpressError("invalid_config")`
 * with a sentence naming it. Each call makes a new router
 * (and, unless `server` is given, a new engine): nothing is shared between calls.
 *
 * ```js
 * app.use("/pm", indiepm({ endpoint: "https://example.com/pm/", sites: ["https://example.com/"], dataDir: ".indiepm" }));
 * ```
 */
export function indiepm(options: IndiePmOptions): IndiePmRouter;
export function indiepm(...args: unknown[]): IndiePmRouter {
  const parsed = parseOptions(args);
  const logError = errorLogger(parsed.logger);
  const maxBodyBytes = parsed.maxBodyBytes;

  let server: PmServer;
  let ready: Promise<void>;
  let close: (graceMs?: number) => Promise<void>;
  if (parsed.kind === "server") {
    server = parsed.server;
    ready = Promise.resolve();
    close = async () => undefined;
  } else {
    const store: Store = parsed.store ?? deferredStore(Promise.resolve().then(() => openNedbStore({ dir: parsed.dataDir! })));
    const engine = createPmServer({ ...parsed.engine, store });
    server = engine;
    ready = engine.start();
    ready.catch((error: unknown) => logError("indiepm: the engine failed to start", { error: describeFailure(error) }));
    close = (graceMs) => engine.close(graceMs);
  }

  // Why the engine failed to start is logged once; requests are then answered 503.
  const started = ready.then(
    () => true,
    () => false,
  );

  const router = express.Router() as IndiePmRouter;
  router.use(
    webHandler((request, context) => server.handle(request, context), {
      maxBodyBytes,
      log: logError,
      warn: warningLogger(parsed.logger),
      factory: "indiepm()",
      started,
      trustProxy: server.trustProxy ?? TRUST_PROXY_OFF,
    }),
  );
  Object.defineProperties(router, {
    server: { value: server, enumerable: true },
    ready: { value: ready, enumerable: true },
    close: { value: close, enumerable: true },
  });
  return router;
}
