/**
 * `indiepm serve` (CLI.md): settings from flags, then `--config FILE`, then defaults
 * (flags win); the owner token from INDIEPM_TOKEN (made up and shown with `--dev`);
 * first stdout line `indiepm listening on URL`; SIGTERM/SIGINT stop it gracefully.
 */
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { PmError, newSecret, refusalOf } from "@indiepm/core";
import type { Flow, PmServerOptions, SitePolicy } from "@indiepm/core";
import { parseTrustProxy, type TrustProxyValue } from "@indiepm/core/node";
import { flag, parseCommand, stringList, stringValue, usage } from "./args.js";
import { CliError, EXIT_OK, sentence, usageError } from "./cli-error.js";
import { withDevHint } from "./discover.js";
import type { Io } from "./io.js";
import { DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT, SHUTDOWN_GRACE_MS } from "./defaults.js";
import { startServer, stderrLogger } from "./standalone.js";


const OPTIONS = {
  port: { type: "string" },
  host: { type: "string" },
  data: { type: "string" },
  site: { type: "string", multiple: true },
  "public-url": { type: "string" },
  "trust-proxy": { type: "string" },
  dev: { type: "boolean" },
  config: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** Keys a `--config` file may have: CLI.md's, then the engine options this server adds. */
export const CONFIG_KEYS = ["port", "host", "data", "sites", "publicUrl", "dev", "policies", "defaultFlow", "grantLifetimeSeconds", "rateLimits", "retry", "trustProxy"] as const;

interface ConfigFile {
  port?: number;
  host?: string;
  data?: string;
  sites?: string[];
  publicUrl?: string;
  dev?: boolean;
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
  dataDir: string;
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
  if (!isPlainObject(json)) throw usageError(`indiepm serve: config file ${path} must hold a JSON object such as {"port": 8080, "sites": ["https://example.com/"]}.`);

  for (const key of Object.keys(json)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
      throw usageError(`indiepm serve: config file ${path}: unknown key \`${key}\` (known keys: ${CONFIG_KEYS.join(", ")}).`);
    }
  }
  const c = json;
  if (c.port !== undefined && (typeof c.port !== "number" || !Number.isInteger(c.port) || c.port < 0 || c.port > 65535)) {
    throw bad("port", "must be a whole number from 0 to 65535", c.port);
  }
  if (c.host !== undefined && (typeof c.host !== "string" || c.host === "")) throw bad("host", "must be an address such as \"127.0.0.1\"", c.host);
  if (c.data !== undefined && (typeof c.data !== "string" || c.data === "")) throw bad("data", "must be a folder path", c.data);
  if (c.sites !== undefined && (!Array.isArray(c.sites) || !c.sites.every((s) => typeof s === "string"))) {
    throw bad("sites", "must be an array of site URLs", c.sites);
  }
  if (c.publicUrl !== undefined && typeof c.publicUrl !== "string") throw bad("publicUrl", "must be a URL", c.publicUrl);
  if (c.dev !== undefined && typeof c.dev !== "boolean") throw bad("dev", "must be true or false", c.dev);
  if (c.policies !== undefined && !isPlainObject(c.policies)) throw bad("policies", "must be an object keyed by site URL", c.policies);
  if (c.defaultFlow !== undefined && c.defaultFlow !== "token" && c.defaultFlow !== "message") {
    throw bad("defaultFlow", "must be \"token\" or \"message\"", c.defaultFlow);
  }
  if (c.grantLifetimeSeconds !== undefined && (typeof c.grantLifetimeSeconds !== "number" || !Number.isInteger(c.grantLifetimeSeconds))) {
    throw bad("grantLifetimeSeconds", "must be a whole number of seconds", c.grantLifetimeSeconds);
  }
  if (c.rateLimits !== undefined && !isPlainObject(c.rateLimits)) throw bad("rateLimits", "must be an object such as {\"perSenderPerMinute\": 60}", c.rateLimits);
  if (c.retry !== undefined && !isPlainObject(c.retry)) throw bad("retry", "must be an object such as {\"baseDelayMs\": 5000}", c.retry);

  const config = c as ConfigFile;
  // A path in a config file means the same wherever the server is started from.
  if (config.data !== undefined) config.data = resolve(dirname(path), config.data);
  return config;
}

/** Checks a site or endpoint URL under the dev policy (PROTOCOL.md "URLs"). @throws CliError (exit 2). */
function checkUrlSetting(label: string, value: string, dev: boolean): string {
  if (!URL.canParse(value)) throw usage("serve", `${label} must be an absolute http(s) URL, got ${JSON.stringify(value)}`);
  const url = new URL(value);
  const refusal = refusalOf(url, { dev });
  if (refusal) throw usage("serve", `${label} ${JSON.stringify(value)} is refused: ${withDevHint(refusal, dev)}`);
  if (url.hash) throw usage("serve", `${label} ${JSON.stringify(value)} must not have a fragment`);
  return url.href;
}

/** A trust-proxy value, checked by the engine's rule; its one sentence names `label`. @throws CliError (exit 2). */
function checkTrustProxy(value: unknown, label: string): TrustProxyValue {
  try {
    return parseTrustProxy(value, label).description;
  } catch (error) {
    throw usageError(`indiepm serve: ${sentence(error).replace(/^indiepm:\s*/, "")}`);
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
  const dataDir = dataFlag !== undefined ? resolve(io.cwd, dataFlag) : (config.data ?? resolve(io.cwd, DEFAULT_DATA_DIR));
  const dev = flag(values, "dev") || config.dev === true;

  let ownerToken = io.env.INDIEPM_TOKEN;
  let generatedToken = false;
  if (!ownerToken) {
    if (!dev) throw usageError("indiepm serve: set INDIEPM_TOKEN to the owner token (at least 16 characters), or use --dev to have one made up.");
    ownerToken = newSecret();
    generatedToken = true;
  } else if (ownerToken.length < 16) {
    throw usageError("indiepm serve: INDIEPM_TOKEN must be at least 16 characters long (e.g. 32 random bytes, base64url).");
  }

  const siteFlags = stringList(values, "site");
  const sites =
    siteFlags.length > 0
      ? siteFlags.map((s) => checkUrlSetting("--site", s, dev))
      : (config.sites ?? []).map((s, i) => checkUrlSetting(inConfig(`sites[${i}]`), s, dev));
  const publicFlag = stringValue(values, "public-url");
  let publicUrl: string | undefined;
  if (publicFlag !== undefined) publicUrl = checkUrlSetting("--public-url", publicFlag, dev);
  else if (config.publicUrl !== undefined) publicUrl = checkUrlSetting(inConfig("publicUrl"), config.publicUrl, dev);
  else if (!dev) {
    throw usageError("indiepm serve: outside --dev the endpoint must be an https URL with a domain name; pass --public-url with the URL the world reaches this server at.");
  }

  // Issue 9 item 11: checked here so a permissive value stops the start with exit 2.
  const trustFlag = stringValue(values, "trust-proxy");
  const trustProxy = trustFlag !== undefined ? checkTrustProxy(trustFlag, "--trust-proxy") : config.trustProxy === undefined ? undefined : checkTrustProxy(config.trustProxy, inConfig("trustProxy"));

  return {
    port,
    host,
    dataDir,
    sites: [...new Set(sites)],
    publicUrl,
    dev,
    ownerToken,
    generatedToken,
    engine: {
      ...(config.policies !== undefined ? { policies: config.policies } : {}),
      ...(config.defaultFlow !== undefined ? { defaultFlow: config.defaultFlow } : {}),
      ...(config.grantLifetimeSeconds !== undefined ? { grantLifetimeSeconds: config.grantLifetimeSeconds } : {}),
      ...(config.rateLimits !== undefined ? { rateLimits: config.rateLimits } : {}),
      ...(config.retry !== undefined ? { retry: config.retry } : {}),
      ...(trustProxy !== undefined ? { trustProxy } : {}),
    },
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
        dataDir: settings.dataDir,
        sites: settings.sites,
        dev: settings.dev,
        ownerToken: settings.ownerToken,
        ...(settings.publicUrl !== undefined ? { publicUrl: settings.publicUrl } : {}),
        ...settings.engine,
        logger: stderrLogger(io.stderr),
      });
    } catch (error) {
      // The engine's own option checks: a setting is wrong, so a usage error.
      if (error instanceof PmError && error.code === "invalid_config") {
        throw usageError(`indiepm serve: ${sentence(error).replace(/^indiepm:\s*/, "")}`);
      }
      throw new CliError(`indiepm serve: ${sentence(error)}`, 1, { cause: error });
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
