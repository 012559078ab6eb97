/**
 * What the client commands (`send`, `inbox`, `outbox`) share (CLI.md): `--server`
 * (default env INDIEPM_SERVER, else http://127.0.0.1:8080/), the owner token (env
 * INDIEPM_TOKEN or `--token`), `--json`, and how the server's refusals read.
 */
import { usage, type OptionSpecs, type ParsedValues, stringValue } from "./args.js";
import { CliError, sentence } from "./cli-error.js";
import { createOwnerClient, type OwnerClient } from "./client.js";
import { DEFAULT_SERVER } from "./defaults.js";
import type { Io } from "./io.js";

export const OWNER_OPTIONS = {
  server: { type: "string" },
  token: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies OptionSpecs;

/** The owner API client the flags and environment name. @throws CliError (exit 2) when one is missing or wrong. */
export function ownerClient(command: string, values: ParsedValues, io: Io): OwnerClient {
  const server = stringValue(values, "server") ?? (io.env.INDIEPM_SERVER || DEFAULT_SERVER);
  if (!URL.canParse(server) || !/^https?:$/.test(new URL(server).protocol)) {
    throw usage(command, `the server URL must be an absolute http(s) URL, got ${JSON.stringify(server)}`);
  }
  const token = stringValue(values, "token") ?? io.env.INDIEPM_TOKEN;
  if (!token) throw usage(command, "no owner token: set INDIEPM_TOKEN or pass --token");
  return createOwnerClient({ server, token });
}

/** A site URL given on the command line, in canonical form. @throws CliError (exit 2). */
export function siteArgument(command: string, flagName: string, value: string): string {
  if (!URL.canParse(value) || !/^https?:$/.test(new URL(value).protocol)) {
    throw usage(command, `${flagName} must be an absolute http(s) site URL, got ${JSON.stringify(value)}`);
  }
  return new URL(value).href;
}

/** The one sentence for an error of a client command, and its exit status (1). */
export function ownerFailure(command: string, error: unknown): CliError {
  if (error instanceof CliError && error.serverCode !== undefined) {
    if (error.serverCode === "invalid_token") {
      return new CliError(`indiepm ${command}: the server refused the owner token; check INDIEPM_TOKEN or --token.`, 1, { cause: error });
    }
    return new CliError(`indiepm ${command}: the server refused: ${sentence(error)} (${error.serverCode})`.replace(/\.\s*\((\w+)\)$/, " ($1)."), 1, {
      cause: error,
    });
  }
  if (error instanceof CliError) {
    return error.message.startsWith("indiepm") ? error : new CliError(`indiepm ${command}: ${sentence(error)}`, error.exitCode, { cause: error });
  }
  return new CliError(`indiepm ${command}: ${sentence(error)}`);
}
