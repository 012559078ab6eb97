/**
 * `indiepm ghost setup|proxy`: a Ghost blog gets private messages. `setup` writes the
 * rel=pm link into Ghost's site-wide code injection through the Admin API and proves it
 * with PROTOCOL.md §1 discovery; `proxy` prints an nginx or Caddy snippet. The logic
 * is `@indiepm/ghost`'s; this file is options in, text out.
 */
import { createHttpClient, discoverEndpoint } from "@indiepm/core";
import {
  CODE_INJECTION_SETTING,
  GhostError,
  IntegrationKeyError,
  pmLinkTag,
  PROXY_SERVERS,
  proxySnippet,
  setupGhost,
  type GhostSetupResult,
  type ProxyServer,
} from "@indiepm/ghost";
import { flag, parseCommand, stringValue, usage, type ParsedValues } from "./args.js";
import { CliError, EXIT_OK, sentence } from "./cli-error.js";
import { DEFAULT_GHOST_UPSTREAM, DEFAULT_PM_UPSTREAM } from "./defaults.js";
import { jsonDocument } from "./format.js";
import type { Io } from "./io.js";

const SETUP_OPTIONS = {
  url: { type: "string" },
  "staff-token": { type: "string" },
  endpoint: { type: "string" },
  remove: { type: "boolean" },
  "dry-run": { type: "boolean" },
  "admin-url": { type: "string" },
  dev: { type: "boolean" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

const PROXY_OPTIONS = {
  server: { type: "string" },
  site: { type: "string" },
  "pm-url": { type: "string" },
  upstream: { type: "string" },
  ghost: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** Env of `--staff-token`, so the token need not sit in the shell's history. */
export const STAFF_TOKEN_ENV = "GHOST_STAFF_TOKEN";

export async function runGhost(argv: readonly string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "setup") return runSetup(rest, io);
  if (sub === "proxy") return runProxy(rest, io);
  throw usage("ghost", sub === undefined ? "say what to do: setup or proxy" : `unknown subcommand ${JSON.stringify(sub)} (setup or proxy)`);
}

function required(command: string, values: ParsedValues, name: string, what: string): string {
  const value = stringValue(values, name);
  if (value === undefined || value === "") throw usage(command, `--${name} ${what} is required`);
  return value;
}

function absoluteUrl(command: string, name: string, value: string): string {
  if (!URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
    throw usage(command, `--${name} must be an absolute http(s) URL, got ${JSON.stringify(value)}`);
  }
  return value;
}

async function runSetup(argv: readonly string[], io: Io): Promise<number> {
  const command = "ghost setup";
  const { values } = parseCommand(command, argv, SETUP_OPTIONS, false);
  const siteUrl = absoluteUrl(command, "url", required(command, values, "url", "GHOST_URL"));
  const remove = flag(values, "remove");
  const endpointValue = stringValue(values, "endpoint");
  if (remove && endpointValue !== undefined) throw usage(command, "give --endpoint or --remove, not both");
  if (!remove && !endpointValue) throw usage(command, "--endpoint PM_URL is required (or --remove)");
  const endpoint = endpointValue === undefined ? null : absoluteUrl(command, "endpoint", endpointValue);
  const adminValue = stringValue(values, "admin-url");
  const adminUrl = adminValue === undefined ? undefined : absoluteUrl(command, "admin-url", adminValue);
  const staffToken = stringValue(values, "staff-token") ?? io.env[STAFF_TOKEN_ENV];
  if (!staffToken)
    throw usage(command, `--staff-token TOKEN is required (or env ${STAFF_TOKEN_ENV}): Ghost Admin → Settings → Staff → your profile → Staff access token`);
  const dev = flag(values, "dev");
  const dryRun = flag(values, "dry-run");
  const json = flag(values, "json");

  const http = dryRun ? undefined : createHttpClient({ dev });
  let result: GhostSetupResult;
  try {
    result = await setupGhost({
      siteUrl,
      ...(adminUrl ? { adminUrl } : {}),
      staffToken,
      endpoint,
      dryRun,
      dev,
      ...(http ? { discover: (site: string) => discoverEndpoint(site, http, { dev }) } : {}),
    });
  } catch (error) {
    if (error instanceof IntegrationKeyError) {
      // The one sentence on stderr; what to paste (or delete) on stdout.
      io.stdout(json ? jsonDocument({ error: error.code, manual: error.manual }) : `${error.manual.snippet}\n`);
      const what = error.manual.action === "add" ? "the snippet printed on stdout" : "the lines printed on stdout (delete them)";
      throw new CliError(`indiepm ${command}: ${error.message.replace("the snippet", what)}.`, 1, { cause: error });
    }
    if (error instanceof GhostError && error.code === "invalid_option") throw usage(command, error.message);
    throw new CliError(`indiepm ${command}: ${sentence(error)}`, 1, { cause: error });
  } finally {
    await http?.close().catch(() => undefined);
  }

  io.stdout(json ? jsonDocument(setupJson(result, dryRun)) : setupReport(result, dryRun));
  return EXIT_OK;
}

function setupJson(result: GhostSetupResult, dryRun: boolean): unknown {
  return {
    site: result.site,
    endpoint: result.endpoint,
    action: result.action,
    changed: result.changed,
    written: result.written,
    dryRun,
    identity: result.identity,
    before: result.before,
    after: result.after,
    ...(result.proof ? { proof: { url: result.proof.url, endpoint: result.proof.endpoint, source: result.proof.source } } : {}),
  };
}

const ACTION_TEXT = {
  added: ["added", "would add"],
  replaced: ["replaced the old pm link with", "would replace the old pm link with"],
  removed: ["removed", "would remove"],
} as const;

function setupReport(result: GhostSetupResult, dryRun: boolean): string {
  const lines: string[] = [];
  const where = "the site header code injection";
  const element = result.endpoint === null ? result.found.map((found) => found.source).join(" ") : pmLinkTag(result.endpoint);
  if (result.action === "unchanged") {
    lines.push(`Ghost ${result.site}: ${where} already ${result.endpoint === null ? "has no pm link" : `names ${result.endpoint}`}; nothing to change.`);
  } else {
    const [done, would] = ACTION_TEXT[result.action];
    lines.push(
      `Ghost ${result.site}: ${dryRun ? would : done} ${element} ${result.action === "removed" ? "from" : "in"} ${where}${dryRun ? " (dry run: nothing written)" : ""}.`,
    );
  }
  if (dryRun && result.changed) lines.push(...lineDiff(result.before, result.after));
  if (dryRun && result.identity.kind === "integration" && result.changed) {
    lines.push("Note: this key is an integration's Admin API key, which Ghost lets only read settings; the change needs a staff access token.");
  }
  if (result.proof) {
    lines.push(
      result.endpoint === null
        ? `Checked: ${result.proof.url} ${result.proof.endpoint === null ? "names no pm endpoint" : `now names ${result.proof.endpoint} (not set here)`}.`
        : `Checked: ${result.proof.url} names the pm endpoint ${result.proof.endpoint} (PROTOCOL.md §1 discovery).`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** The change as a small unified diff (one changed region between common first and last lines). */
export function lineDiff(before: string, after: string, context = 2): string[] {
  const a = before === "" ? [] : before.split(/\r?\n/);
  const b = after === "" ? [] : after.split(/\r?\n/);
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const out = [`--- ${CODE_INJECTION_SETTING} (now)`, `+++ ${CODE_INJECTION_SETTING} (after)`];
  for (const line of a.slice(Math.max(0, head - context), head)) out.push(`  ${line}`);
  for (const line of a.slice(head, a.length - tail)) out.push(`- ${line}`);
  for (const line of b.slice(head, b.length - tail)) out.push(`+ ${line}`);
  for (const line of a.slice(a.length - tail, a.length - tail + context)) out.push(`  ${line}`);
  return out;
}

async function runProxy(argv: readonly string[], io: Io): Promise<number> {
  const command = "ghost proxy";
  const { values } = parseCommand(command, argv, PROXY_OPTIONS, false);
  const server = required(command, values, "server", "nginx|caddy");
  if (!(PROXY_SERVERS as readonly string[]).includes(server))
    throw usage(command, `--server must be ${PROXY_SERVERS.join(" or ")}, got ${JSON.stringify(server)}`);
  const siteUrl = absoluteUrl(command, "site", required(command, values, "site", "URL"));
  const pmUrl = absoluteUrl(command, "pm-url", required(command, values, "pm-url", "URL"));
  try {
    io.stdout(
      proxySnippet({
        server: server as ProxyServer,
        siteUrl,
        pmUrl,
        pmUpstream: stringValue(values, "upstream") ?? DEFAULT_PM_UPSTREAM,
        ghostUpstream: stringValue(values, "ghost") ?? DEFAULT_GHOST_UPSTREAM,
      }),
    );
  } catch (error) {
    if (error instanceof GhostError) throw usage(command, error.message);
    throw error;
  }
  return EXIT_OK;
}
