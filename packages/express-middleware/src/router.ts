/**
 * `indiepm(options)`: an Express 5 router that hands every request under its mount path
 * to the engine (`PmServer.handle`). The body is read here, raw and under the §2 limit,
 * so the host app's body parsers neither help nor get in the way.
 */
import express from "express";
import type { NextFunction, Request as ExpressRequest, Response as ExpressResponse, Router } from "express";
import { PmError, createPmServer, errorResponse, isProtocolErrorCode, openNedbStore } from "@indiepm/core";
import type { Logger, PmServer, Store } from "@indiepm/core";
import { sendWebResponse, toWebRequest } from "@indiepm/core/node";
import { deferredStore } from "./deferred-store.js";
import { parseOptions, type IndiePmOptions } from "./options.js";
import { bodyAlreadyRead, rebuildBody } from "./parsed-body.js";

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

type Log = (message: string, data?: Record<string, unknown>) => void;

function errorLogger(logger: Logger | undefined): Log {
  return logger ? logger.error.bind(logger) : (message, data) => console.error(message, data);
}

function describeFailure(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

/** The origin the client used, when the Host header makes one. */
function originOf(req: ExpressRequest): string | undefined {
  const host = req.get("host");
  const candidate = `${req.protocol}://${host ?? ""}`;
  return host && URL.canParse(candidate) && new URL(candidate).host === host.toLowerCase() ? candidate : undefined;
}

/**
 * Creates the router. Options are checked here, once: a wrong one throws
 * `PmError("invalid_config")` with a sentence naming it. Each call makes a new router
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
    const store: Store =
      parsed.store ?? deferredStore(Promise.resolve().then(() => openNedbStore({ dir: parsed.dataDir! })));
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

  const handler = async (req: ExpressRequest, res: ExpressResponse, next: NextFunction): Promise<void> => {
    let response: Response;
    try {
      if (!(await started)) {
        throw new PmError("temporarily_unavailable", "This pm endpoint failed to start; its owner can see why in the server log.");
      }
      const body = bodyAlreadyRead(req) ? rebuildBody(req) : undefined;
      const origin = originOf(req);
      const request = await toWebRequest(req, {
        maxBodyBytes,
        target: req.originalUrl,
        ...(origin === undefined ? {} : { baseUrl: origin }),
        ...(body === undefined ? {} : { body }),
      });
      response = await server.handle(request, {
        path: req.path,
        ...(req.ip === undefined ? {} : { clientAddress: req.ip }),
      });
    } catch (error) {
      // PmErrors with a protocol code are answers (413, 400…); anything else is a failure to log.
      if (!(error instanceof PmError && isProtocolErrorCode(error.code))) {
        logError("indiepm: request failed", { method: req.method, url: req.originalUrl, error: describeFailure(error) });
      }
      if (res.headersSent || res.destroyed) return;
      response = errorResponse(error);
      // Do not read a huge upload to its end just to keep the connection.
      if (error instanceof PmError && error.code === "too_large") response.headers.set("connection", "close");
    }
    try {
      await sendWebResponse(res, response);
    } catch (error) {
      logError("indiepm: sending the answer failed", { method: req.method, url: req.originalUrl, error: describeFailure(error) });
      if (!res.headersSent) next(error);
      else res.destroy();
    }
  };

  const router = express.Router() as IndiePmRouter;
  router.use((req, res, next) => {
    handler(req, res, next).catch((error: unknown) => {
      if (!res.headersSent) next(error);
      else res.destroy();
    });
  });
  Object.defineProperties(router, {
    server: { value: server, enumerable: true },
    ready: { value: ready, enumerable: true },
    close: { value: close, enumerable: true },
  });
  return router;
}
