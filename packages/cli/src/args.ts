/**
 * Argument parsing on `node:util` `parseArgs` (no dependency), with its errors turned
 * into one usage sentence (exit 2) that points at `--help`.
 */
import { parseArgs } from "node:util";
import { usageError } from "./cli-error.js";

export interface OptionSpec {
  type: "string" | "boolean";
  multiple?: boolean;
  short?: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

export type ParsedValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface ParsedArgs {
  values: ParsedValues;
  positionals: string[];
}

/** True when `--help` or `-h` comes before any `--` (then usage wins over every other check). */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === "--") return false;
    if (arg === "--help" || arg === "-h") return true;
  }
  return false;
}

function describeParseError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown }).code;
  const quoted = /'([^']+)'/.exec(message)?.[1];
  switch (code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${quoted ?? message}`;
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument ${JSON.stringify(quoted ?? message)}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE": {
      const flag = quoted?.split(" ")[0] ?? "";
      if (/argument missing/i.test(message)) return `option ${flag} needs a value`;
      if (/ambiguous/i.test(message)) return `option ${flag} needs a value (write ${flag}=VALUE for one that starts with "-")`;
      if (/does not take an argument/i.test(message)) return `option ${flag} takes no value`;
      return message.replace(/\.$/, "");
    }
    default:
      return message.replace(/\.$/, "");
  }
}

/** The one usage sentence every command ends its usage errors with. */
export function helpHint(command: string): string {
  return `run \`indiepm ${command} --help\` for usage`;
}

export function usage(command: string, problem: string): Error {
  return usageError(`indiepm ${command}: ${problem}; ${helpHint(command)}.`);
}

/** Parses `argv` strictly against `options`. @throws CliError (exit 2) on any mistake. */
export function parseCommand(command: string, argv: readonly string[], options: OptionSpecs, allowPositionals: boolean): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({ args: [...argv], options, allowPositionals, strict: true });
    return { values: values as ParsedValues, positionals };
  } catch (error) {
    throw usage(command, describeParseError(error));
  }
}

export function stringValue(values: ParsedValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === "string" ? value : undefined;
}

export function stringList(values: ParsedValues, name: string): string[] {
  const value = values[name];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === "string");
  return typeof value === "string" ? [value] : [];
}

export function flag(values: ParsedValues, name: string): boolean {
  return values[name] === true;
}
