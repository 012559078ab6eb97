/**
 * `indiepm discover [--dev] URL` (CLI.md): PROTOCOL.md §1 discovery from the command
 * line, with the production refusals of §6 applied before any connection is made.
 */
import { createHttpClient, discoverEndpoint, refusalOf } from "@indiepm/core";
import { flag, parseCommand, usage } from "./args.js";
import { CliError, EXIT_OK, sentence } from "./cli-error.js";
import type { Io } from "./io.js";

const OPTIONS = {
  dev: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** The refusal in CLI terms: "development mode" is `--dev` here. */
export function withDevHint(refusal: string, dev: boolean): string {
  const text = refusal.replace(/development mode/g, "--dev");
  return dev || text.includes("--dev") ? text : `${text} (--dev allows it)`;
}

export async function runDiscover(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand("discover", argv, OPTIONS, true);
  if (positionals.length !== 1) throw usage("discover", positionals.length === 0 ? "the site URL is missing" : "give one site URL");
  const input = positionals[0]!;
  if (!URL.canParse(input)) throw usage("discover", `${JSON.stringify(input)} is not an absolute URL`);
  const dev = flag(values, "dev");
  const url = new URL(input);

  // §6 / "URLs": refuse what a production server refuses, before connecting.
  const refusal = refusalOf(url, { dev });
  if (refusal) {
    throw new CliError(`indiepm discover: ${url.href} is refused: ${withDevHint(refusal, dev)}.`);
  }

  const http = createHttpClient({ dev });
  try {
    const found = await discoverEndpoint(url.href, http, { dev });
    if (found.endpoint === null) {
      throw new CliError(`indiepm discover: ${found.url} names no pm endpoint (no Link header or <link>/<a> with rel="pm").`);
    }
    io.stdout(`${found.endpoint}\n`);
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`indiepm discover: ${sentence(error)}`, 1, { cause: error });
  } finally {
    await http.close().catch(() => undefined);
  }
}
