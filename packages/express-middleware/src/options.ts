/**
 * `indiepm()` options: parsed and checked once, in the factory (STYLE.md practice 5), so
 * a wrong option fails at start-up with one sentence naming it.
 */
import { MAX_REQUEST_BODY_BYTES, PM_SERVER_OPTION_NAMES, PmError, resolvePmServerOptions } from "@indiepm/core";
import type { Logger, PmServer, PmServerOptions, ResolvedPmServerOptions, Store } from "@indiepm/core";
import { checkKnownKeys, configError, isPlainObject, looksLikeMiddlewareCall, shown } from "./validate.js";

const FACTORY = "indiepm";

/** Mount an engine your app created with `createPmServer` (your app starts and closes it). */
export interface IndiePmServerOptions {
  server: PmServer;
  /** Largest request body read, bytes (default `MAX_REQUEST_BODY_BYTES`, the largest of core's `BODY_LIMITS`: 256 KiB). */
  maxBodyBytes?: number;
  /** Where unexpected failures are logged (default: `console.error`). */
  logger?: Logger;
}

/**
 * Let the middleware create the engine: `createPmServer`'s options, with the store given
 * as a `Store` or as `dataDir` (the embedded nedb store in that folder).
 */
export interface IndiePmEngineOptions extends Omit<PmServerOptions, "store"> {
  store?: Store;
  /** Folder of the embedded store (`openNedbStore({ dir })`); instead of `store`. */
  dataDir?: string;
}

export type IndiePmOptions = IndiePmServerOptions | IndiePmEngineOptions;

// The engine's option names are core's (one list); `dataDir` is this package's.
const ENGINE_OPTION_NAMES: readonly string[] = [...PM_SERVER_OPTION_NAMES, "dataDir"];
const SERVER_OPTION_NAMES = ["server", "maxBodyBytes", "logger"];

export type ParsedOptions =
  | { kind: "server"; server: PmServer; maxBodyBytes: number; logger: Logger | undefined }
  | {
      kind: "engine";
      engine: Omit<PmServerOptions, "store">;
      store: Store | undefined;
      dataDir: string | undefined;
      maxBodyBytes: number;
      logger: Logger | undefined;
    };

function checkMaxBodyBytes(value: unknown): number {
  if (value === undefined) return MAX_REQUEST_BODY_BYTES;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw configError(FACTORY, `option \`maxBodyBytes\` must be a positive whole number of bytes, got ${shown(value)}.`);
  }
  return value;
}

function checkLogger(value: unknown): Logger | undefined {
  if (value === undefined) return undefined;
  const logger = value as Partial<Record<keyof Logger, unknown>> | null;
  if (
    typeof logger !== "object" ||
    logger === null ||
    typeof logger.info !== "function" ||
    typeof logger.warn !== "function" ||
    typeof logger.error !== "function"
  ) {
    throw configError(FACTORY, `option \`logger\` must have info, warn and error methods (console works), got ${shown(value)}.`);
  }
  return value as Logger;
}

/** Checks `indiepm()`'s arguments once. @throws IndiePmExpressError `invalid_config` naming the option (an engine option's `PmError` as `cause`). */
export function parseOptions(args: readonly unknown[]): ParsedOptions {
  if (looksLikeMiddlewareCall(args)) {
    throw configError(FACTORY, 'it appears you wrote `app.use(indiepm)`, but it should be `app.use("/pm", indiepm({ endpoint, sites, dataDir }))`.');
  }
  const options = args[0];
  if (!isPlainObject(options)) {
    throw configError(FACTORY, `options must be an object such as { endpoint, sites, dataDir } or { server }, got ${shown(options)}.`);
  }

  if ("server" in options) {
    const engineKeys = Object.keys(options).filter((k) => !SERVER_OPTION_NAMES.includes(k) && ENGINE_OPTION_NAMES.includes(k));
    if (engineKeys.length > 0) {
      throw configError(FACTORY, `option \`${engineKeys[0]}\` cannot be combined with \`server\`; set it on the engine you pass to createPmServer.`);
    }
    checkKnownKeys(FACTORY, options, SERVER_OPTION_NAMES);
    const server = options.server as Partial<PmServer> | null;
    if (typeof server !== "object" || server === null || typeof server.handle !== "function") {
      throw configError(FACTORY, `option \`server\` must be a PmServer made by createPmServer(), got ${shown(options.server)}.`);
    }
    return {
      kind: "server",
      server: server as PmServer,
      maxBodyBytes: checkMaxBodyBytes(options.maxBodyBytes),
      logger: checkLogger(options.logger),
    };
  }

  checkKnownKeys(FACTORY, options, [...ENGINE_OPTION_NAMES, "server"]);
  const { dataDir, store, ...engine } = options as unknown as IndiePmEngineOptions;

  // This package's own options: where the store comes from.
  if (store !== undefined && dataDir !== undefined) {
    throw configError(FACTORY, "options `store` and `dataDir` cannot both be set; pass one.");
  }
  if (store === undefined && dataDir === undefined) {
    throw configError(FACTORY, "option `dataDir` (a folder for the embedded store) or `store` is required.");
  }
  if (dataDir !== undefined && (typeof dataDir !== "string" || dataDir.trim() === "")) {
    throw configError(FACTORY, `option \`dataDir\` must be a folder path, got ${shown(dataDir)}.`);
  }

  // The engine's options, by the engine's rules (core's resolvePmServerOptions); the
  // embedded store under `dataDir` opens only once they are known good.
  let resolved: Omit<ResolvedPmServerOptions, "store">;
  try {
    resolved = store === undefined ? resolvePmServerOptions({ ...engine }, { storeOpensLater: true }) : resolvePmServerOptions({ ...engine, store });
  } catch (error) {
    if (!(error instanceof PmError) || error.code !== "invalid_config") throw error;
    throw configError(FACTORY, error.message.replace(/^indiepm:\s*/, ""), { cause: error });
  }
  // Mounted in a site's own app, a router with no site would answer every notify 404;
  // `indiepm serve` may start before its sites (CLI.md), so the engine allows none.
  if (resolved.sites.length === 0) {
    throw configError(FACTORY, `option \`sites\` must be a non-empty array of site URLs, e.g. ["https://example.com/"], got ${shown(engine.sites)}.`);
  }
  // The router reads bodies up to the engine's limit when one is set, else the largest route limit.
  const maxBodyBytes = engine.maxBodyBytes === undefined ? MAX_REQUEST_BODY_BYTES : resolved.maxBodyBytes;
  const logger = engine.logger === undefined ? undefined : resolved.logger;

  return {
    kind: "engine",
    engine,
    store,
    dataDir,
    maxBodyBytes,
    logger,
  };
}
