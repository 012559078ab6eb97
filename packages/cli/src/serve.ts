/**
 * `indiepm serve` (CLI.md): settings from flags, then `--config FILE`, then defaults
 * (flags win); the owner token from INDIEPM_TOKEN (made up and shown with `--dev`);
 * first stdout line `indiepm listening on URL`; SIGTERM/SIGINT stop it gracefully.
 * The engine's settings (sites, endpoint, dev, the owner token, policies, trustProxy…)
 * are checked by the engine's own rules (core's `resolvePmServerOptions`), before
 * anything is opened, in sentences that name the flag or the config key; this file
 * checks only what `serve` adds (port, host, data folder or database, the config file itself).
 *
 * `--database` is read like every other setting: the flag, else the config file's
 * `database`, else env INDIEPM_DATABASE_URL (CLI.md: the flag's default). With a database
 * the server keeps nothing in a data folder, so a data folder named as well (flag or
 * config) is refused rather than silently unused.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { PmError, newSecret, resolvePmServerOptions } from "@indiepm/core";
import type { Flow, PmServerOptions, SitePolicy } from "@indiepm/core";
import type { TrustProxyValue } from "@indiepm/core/node";
import { flag, parseCommand, stringList, stringValue, usage } from "./args.js";
import { CliError, EXIT_OK, sentence, usageError } from "./cli-error.js";
import { DATABASE_ENV, checkDatabaseUrl, withoutPassword } from "./database-url.js";
import { MIN_OWNER_TOKEN_LENGTH } from "@indiepm/core";
import type { Io } from "./io.js";
import { DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT, SHUTDOWN_GRACE_MS } from "./defaults.js";
import { defaultPublicUrl, startServer, stderrLogger } from "./standalone.js";

const OPTIONS = {
  port: { type: "string" },
  host: { type: "string" },
  data: { type: "string" },
  database: { type: "string" },
  site: { type: "string", multiple: true },
  "public-url": { type: "string" },
  "trust-proxy": { type: "string" },
  dev: { type: "boolean" },
  config: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** Keys a `--config` file may have: CLI.md's, then the engine options this server adds. */
export const CONFIG_KEYS = [
  "port",
  "host",
  "data",
  "database",
  "sites",
  "publicUrl",
  "dev",
  "policies",
  "defaultFlow",
  "grantLifetimeSeconds",
  "rateLimits",
  "retry",
  "trustProxy",
] as const;

/** `serve`'s own keys are checked here; the engine's (the rest) by `resolvePmServerOptions`. */
interface ConfigFile {
  port?: number;
  host?: string;
  data?: string;
  database?: string;
  sites?: unknown;
  publicUrl?: unknown;
  dev?: unknown;
  policies?: Record<string, SitePolicy>;
  defaultFlow?: Flow;
  grantLifetimeSeconds?: number;
  rateLimits?: PmServerOptions["rateLimits"];
  retry?: PmServerOptions["retry"];
  trustProxy?: TrustProxyValue;
}

export interface ServeSettings {
  port: number;
  host: string;
  /** The embedded store's folder; `undefined` when `database` is set. */
  dataDir: string | undefined;
  /** The PostgreSQL URL the server keeps its state in (`--database`), if any. */
  database: string | undefined;
  sites: string[];
  publicUrl: string | undefined;
  dev: boolean;
  ownerToken: string;
  /** True when the token was made up here (`--dev` without INDIEPM_TOKEN). */
  generatedToken: boolean;
  engine: Pick<PmServerOptions, "policies" | "defaultFlow" | "grantLifetimeSeconds" | "rateLimits" | "retry" | "trustProxy">;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parsePort(value: string, label: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw usage("serve", `${label} must be a port number from 0 to 65535, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** Reads and checks `--config FILE`. @throws CliError (exit 2) naming the file and the field. */
async function readConfig(path: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw usageError(`indiepm serve: cannot read config file ${path}${code === "ENOENT" ? " (no such file)" : ` (${code ?? sentence(error)})`}.`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw usageError(`indiepm serve: config file ${path} is not valid JSON (${sentence(error).replace(/\.$/, "")}).`);
  }
  const bad = (field: string, why: string, value: unknown): CliError =>
    usageError(`indiepm serve: config file ${path}: \`${field}\` ${why}, got ${JSON.stringify(value) ?? String(value)}.`);
  if (!isPlainObject(json))
    throw usageError(`indiepm serve: config file ${path} must hold a JSON object such as {"port": 8080, "sites": ["https://example.com/"]}.`);

  for (const key of Object.keys(json)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
      throw usageError(`indiepm serve: config file ${path}: unknown key \`${key}\` (known keys: ${CONFIG_KEYS.join(", ")}).`);
    }
  }
  const c = json;
  if (c.port !== undefined && (typeof c.port !== "number" || !Number.isInteger(c.port) || c.port < 0 || c.port > 65535)) {
    throw bad("port", "must be a whole number from 0 to 65535", c.port);
  }
  if (c.host !== undefined && (typeof c.host !== "string" || c.host === "")) throw bad("host", 'must be an address such as "127.0.0.1"', c.host);
  if (c.data !== undefined && (typeof c.data !== "string" || c.data === "")) throw bad("data", "must be a folder path", c.data);
  // Not echoed: a database URL may hold a password.
  if (c.database !== undefined && typeof c.database !== "string")
    throw usageError(`indiepm serve: config file ${path}: \`database\` must be a PostgreSQL URL such as "postgres://USER:PASSWORD@HOST:5432/DB".`);
  const config = c as ConfigFile;
  // A path in a config file means the same wherever the server is started from.
  if (config.data !== undefined) config.data = resolve(dirname(path), config.data);
  return config;
}

/**
 * The endpoint `serve` makes in development mode, `http://HOST:PORT/`, for the check
 * before listening (the bound port replaces port 0 later). A host no URL can hold is
 * left for listening to refuse, with its own sentence.
 */
function defaultEndpoint(host: string, port: number): string {
  try {
    return defaultPublicUrl(host, port);
  } catch {
    return defaultPublicUrl(DEFAULT_HOST, port);
  }
}

/** Flags, then the config file, then defaults. @throws CliError (exit 2) for anything wrong. */
export async function serveSettings(argv: readonly string[], io: Io): Promise<ServeSettings> {
  const { values } = parseCommand("serve", argv, OPTIONS, false);
  const configPath = stringValue(values, "config");
  const config = configPath === undefined ? {} : await readConfig(resolve(io.cwd, configPath));
  const inConfig = (key: string): string => `\`${key}\` in ${configPath}`;

  const portFlag = stringValue(values, "port");
  const port = portFlag !== undefined ? parsePort(portFlag, "--port") : (config.port ?? DEFAULT_PORT);
  const hostFlag = stringValue(values, "host");
  if (hostFlag === "") throw usage("serve", "--host needs an address");
  const host = hostFlag ?? config.host ?? DEFAULT_HOST;
  const dataFlag = stringValue(values, "data");
  if (dataFlag === "") throw usage("serve", "--data needs a folder");
  const databaseFlag = stringValue(values, "database");
  const envDatabase = io.env[DATABASE_ENV];
  const database =
    databaseFlag !== undefined
      ? checkDatabaseUrl("serve", databaseFlag, "--database")
      : config.database !== undefined
        ? checkDatabaseUrl("serve", config.database, inConfig("database"))
        : envDatabase !== undefined && envDatabase !== ""
          ? checkDatabaseUrl("serve", envDatabase, DATABASE_ENV)
          : undefined;
  if (database !== undefined && (dataFlag !== undefined || config.data !== undefined)) {
    const dataSource = dataFlag !== undefined ? "--data" : inConfig("data");
    const databaseSource = databaseFlag !== undefined ? "--database" : config.database !== undefined ? inConfig("database") : DATABASE_ENV;
    throw usage(
      "serve",
      `${dataSource} and ${databaseSource} both name where the state is kept; with a database the server keeps nothing in a data folder, so give one`,
    );
  }
  const dataDir = database !== undefined ? undefined : dataFlag !== undefined ? resolve(io.cwd, dataFlag) : (config.data ?? resolve(io.cwd, DEFAULT_DATA_DIR));
  // `serve`'s own decisions (a made-up token, the default endpoint) read the switch as
  // given; a config `dev` that is not a boolean is refused below, by the engine's rule.
  const devGiven = flag(values, "dev") ? true : config.dev;
  const dev = devGiven === true;

  let ownerToken = io.env.INDIEPM_TOKEN;
  let generatedToken = false;
  if (!ownerToken) {
    if (!dev)
      throw usageError(
        `indiepm serve: set INDIEPM_TOKEN to the owner token (${MIN_OWNER_TOKEN_LENGTH} characters or more, e.g. openssl rand -base64 32), or use --dev to have one made up.`,
      );
    ownerToken = newSecret();
    generatedToken = true;
  }

  const siteFlags = stringList(values, "site");
  const publicFlag = stringValue(values, "public-url");
  const publicGiven = publicFlag ?? config.publicUrl;
  if (publicGiven === undefined && !dev) {
    throw usageError(
      "indiepm serve: outside --dev the endpoint must be an https URL with a domain name; pass --public-url with the URL the world reaches this server at.",
    );
  }
  const trustFlag = stringValue(values, "trust-proxy");

  // Each engine setting by the engine's rule, named as the owner wrote it.
  const label = (field: string): string => {
    if (field === "ownerToken") return "INDIEPM_TOKEN";
    if (field.startsWith("sites") && siteFlags.length > 0) return "--site";
    if (field === "endpoint")
      return publicFlag !== undefined ? "--public-url" : publicGiven !== undefined ? inConfig("publicUrl") : "the endpoint made from --host and --port";
    if (field === "trustProxy" && trustFlag !== undefined) return "--trust-proxy";
    return inConfig(field);
  };
  const engine = {
    ...(config.policies !== undefined ? { policies: config.policies } : {}),
    ...(config.defaultFlow !== undefined ? { defaultFlow: config.defaultFlow } : {}),
    ...(config.grantLifetimeSeconds !== undefined ? { grantLifetimeSeconds: config.grantLifetimeSeconds } : {}),
    ...(config.rateLimits !== undefined ? { rateLimits: config.rateLimits } : {}),
    ...(config.retry !== undefined ? { retry: config.retry } : {}),
    ...(trustFlag !== undefined ? { trustProxy: trustFlag } : config.trustProxy !== undefined ? { trustProxy: config.trustProxy } : {}),
  };
  let resolved;
  try {
    resolved = resolvePmServerOptions(
      {
        ...engine,
        endpoint: publicGiven ?? defaultEndpoint(host, port),
        sites: siteFlags.length > 0 ? siteFlags : (config.sites ?? []),
        dev: devGiven ?? false,
        ownerToken,
      },
      { label, devSwitch: "--dev", storeOpensLater: true },
    );
  } catch (error) {
    if (!(error instanceof PmError) || error.code !== "invalid_config") throw error;
    throw usageError(`indiepm serve: ${sentence(error).replace(/^indiepm:\s*/, "")}`, { cause: error });
  }
  const sites = resolved.sites;
  const publicUrl = publicGiven === undefined ? undefined : resolved.endpoint;

  return {
    port,
    host,
    dataDir,
    database,
    sites: [...new Set(sites)],
    publicUrl,
    dev: resolved.dev,
    ownerToken,
    generatedToken,
    engine,
  };
}

/**
 * Resolves with the first SIGTERM or SIGINT; later ones are reported and otherwise
 * ignored (CLI.md: "once or more", the server still finishes gracefully).
 */
function processStopSignal(io: Io): { wait: Promise<string>; dispose(): void } {
  let resolveWait!: (signal: string) => void;
  const wait = new Promise<string>((r) => (resolveWait = r));
  let received = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    received += 1;
    if (received === 1) resolveWait(signal);
    else io.stderr(`indiepm serve: ${signal} again; still finishing accepted requests (at most ${SHUTDOWN_GRACE_MS / 1000} s).\n`);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  return {
    wait,
    dispose() {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
    },
  };
}

export async function runServe(argv: readonly string[], io: Io): Promise<number> {
  const settings = await serveSettings(argv, io);
  const stop = io.stopSignal ? { wait: io.stopSignal(), dispose: () => undefined } : processStopSignal(io);
  try {
    let running;
    try {
      running = await startServer({
        port: settings.port,
        host: settings.host,
        ...(settings.dataDir !== undefined ? { dataDir: settings.dataDir } : {}),
        ...(settings.database !== undefined ? { database: settings.database } : {}),
        sites: settings.sites,
        dev: settings.dev,
        ownerToken: settings.ownerToken,
        ...(settings.publicUrl !== undefined ? { publicUrl: settings.publicUrl } : {}),
        ...settings.engine,
        logger: stderrLogger(io.stderr),
      });
    } catch (error) {
      // The engine's own option checks (already passed in serveSettings): a setting is wrong, so a usage error.
      if (error instanceof CliError) {
        throw new CliError(`indiepm serve: ${error.message.replace(/^indiepm:\s*/, "")}`, error.exitCode, { cause: error.cause ?? error });
      }
      // A database's errors never show its password, whatever the driver put in them.
      const said = settings.database === undefined ? sentence(error) : withoutPassword(sentence(error), settings.database);
      throw new CliError(`indiepm serve: ${said}`, 1, { cause: error });
    }
    if (settings.generatedToken) {
      io.stderr(`indiepm serve: development mode; made up an owner token for this run: INDIEPM_TOKEN=${settings.ownerToken}\n`);
    }
    io.stdout(`indiepm listening on ${running.url}\n`);
    if (running.inbox) io.stderr(`indiepm serve: web inbox at ${running.inbox.url} (sign in with your site's IndieAuth).\n`);
    const signal = await stop.wait;
    io.stderr(`indiepm serve: ${signal} received; finishing accepted requests (at most ${SHUTDOWN_GRACE_MS / 1000} s).\n`);
    await running.close(SHUTDOWN_GRACE_MS);
    io.stderr("indiepm serve: stopped.\n");
    return EXIT_OK;
  } finally {
    stop.dispose();
  }
}
