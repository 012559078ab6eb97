/**
 * `indiepm()` options: parsed and checked once, in the factory (STYLE.md practice 5), so
 * a wrong option fails at start-up with one sentence naming it.
 */
import type { Logger, PmServer, PmServerOptions, Store } from "@indiepm/core";
import { MAX_FEDERATION_BODY_BYTES } from "@indiepm/core/node";
import { checkKnownKeys, checkUrl, configError, isPlainObject, looksLikeMiddlewareCall, shown } from "./validate.js";

const FACTORY = "indiepm";

/** Mount an engine your app created with `createPmServer` (your app starts and closes it). */
export interface IndiePmServerOptions {
  server: PmServer;
  /** Largest request body read, bytes (default 256 KiB, PROTOCOL.md §2). */
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

// Every key of PmServerOptions: the compiler flags this list when the engine's options change.
const ENGINE_KEYS = {
  endpoint: true,
  sites: true,
  store: true,
  dev: true,
  ownerToken: true,
  http: true,
  defaultFlow: true,
  policies: true,
  grantLifetimeSeconds: true,
  rateLimits: true,
  retry: true,
  maxBodyBytes: true,
  trustProxy: true,
  sanitizer: true,
  onEvent: true,
  logger: true,
  now: true,
} as const satisfies Record<keyof PmServerOptions, true>;

const ENGINE_OPTION_NAMES = [...Object.keys(ENGINE_KEYS), "dataDir"];
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

function checkFunction(field: string, value: unknown): void {
  if (value !== undefined && typeof value !== "function") {
    throw configError(FACTORY, `option \`${field}\` must be a function, got ${shown(value)}.`);
  }
}

function checkMaxBodyBytes(value: unknown): number {
  if (value === undefined) return MAX_FEDERATION_BODY_BYTES;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw configError(FACTORY, `option \`maxBodyBytes\` must be a positive whole number of bytes, got ${shown(value)}.`);
  }
  return value;
}

function checkLogger(value: unknown): Logger | undefined {
  if (value === undefined) return undefined;
  const logger = value as Partial<Record<keyof Logger, unknown>> | null;
  if (typeof logger !== "object" || logger === null || typeof logger.info !== "function" || typeof logger.warn !== "function" || typeof logger.error !== "function") {
    throw configError(FACTORY, `option \`logger\` must have info, warn and error methods (console works), got ${shown(value)}.`);
  }
  return value as Logger;
}

function looksLikeStore(value: unknown): value is Store {
  const store = value as Partial<Record<keyof Store, unknown>> | null;
  return (
    typeof store === "object" &&
    store !== null &&
    (["insert", "get", "update", "put", "remove", "find", "count", "close"] as const).every((m) => typeof store[m] === "function")
  );
}

/** Checks `indiepm()`'s arguments once. @throws PmError `invalid_config` naming the option. */
export function parseOptions(args: readonly unknown[]): ParsedOptions {
  if (looksLikeMiddlewareCall(args)) {
    throw configError(
      FACTORY,
      "it appears you wrote `app.use(indiepm)`, but it should be `app.use(\"/pm\", indiepm({ endpoint, sites, dataDir }))`.",
    );
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

  if (engine.dev !== undefined && typeof engine.dev !== "boolean") {
    throw configError(FACTORY, `option \`dev\` must be true or false, got ${shown(engine.dev)}.`);
  }
  const production = engine.dev !== true;
  if (engine.endpoint === undefined) {
    throw configError(FACTORY, "option `endpoint` is required: the URL of this endpoint as the world sees it, e.g. \"https://example.com/pm/\".");
  }
  const endpoint = checkUrl(FACTORY, "endpoint", engine.endpoint, { production });
  if (!Array.isArray(engine.sites) || engine.sites.length === 0) {
    throw configError(FACTORY, `option \`sites\` must be a non-empty array of site URLs, e.g. ["https://example.com/"], got ${shown(engine.sites)}.`);
  }
  const sites = engine.sites.map((site, i) => checkUrl(FACTORY, `sites[${i}]`, site, { production }));

  if (store !== undefined && dataDir !== undefined) {
    throw configError(FACTORY, "options `store` and `dataDir` cannot both be set; pass one.");
  }
  if (store === undefined && dataDir === undefined) {
    throw configError(FACTORY, "option `dataDir` (a folder for the embedded store) or `store` is required.");
  }
  if (dataDir !== undefined && (typeof dataDir !== "string" || dataDir.trim() === "")) {
    throw configError(FACTORY, `option \`dataDir\` must be a folder path, got ${shown(dataDir)}.`);
  }
  if (store !== undefined && !looksLikeStore(store)) {
    throw configError(FACTORY, `option \`store\` must implement the Store interface (insert, get, update, put, remove, find, count, close), got ${shown(store)}.`);
  }
  if (engine.ownerToken !== undefined && (typeof engine.ownerToken !== "string" || engine.ownerToken.length < 16)) {
    throw configError(FACTORY, "option `ownerToken` must be a string of at least 16 characters (e.g. 32 random bytes, base64url).");
  }
  if (engine.defaultFlow !== undefined && engine.defaultFlow !== "token" && engine.defaultFlow !== "message") {
    throw configError(FACTORY, `option \`defaultFlow\` must be "token" or "message", got ${shown(engine.defaultFlow)}.`);
  }
  checkFunction("onEvent", engine.onEvent);
  checkFunction("now", engine.now);
  const logger = checkLogger(engine.logger);
  const maxBodyBytes = checkMaxBodyBytes(engine.maxBodyBytes);

  return {
    kind: "engine",
    engine: { ...engine, endpoint, sites, maxBodyBytes },
    store,
    dataDir,
    maxBodyBytes,
    logger,
  };
}
