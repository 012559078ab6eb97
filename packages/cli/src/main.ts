/**
 * `indiepm`: dispatch to the commands of CLI.md. Every command has `--help` (stdout,
 * exit 0); a usage error exits 2 and any other error 1, each as one sentence on stderr,
 * never a stack.
 */
import { readFileSync } from "node:fs";
import { wantsHelp } from "./args.js";
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, sentence } from "./cli-error.js";
import { DISCOVER_USAGE, runDiscover } from "./discover.js";
import { INBOX_USAGE, runInbox } from "./inbox.js";
import { processIo, type Io } from "./io.js";
import { OUTBOX_USAGE, runOutbox } from "./outbox.js";
import { SEND_USAGE, runSend } from "./send.js";
import { SERVE_USAGE, runServe } from "./serve.js";

interface Command {
  usage: string;
  run(argv: readonly string[], io: Io): Promise<number>;
}

const COMMANDS: Record<string, Command> = {
  serve: { usage: SERVE_USAGE, run: runServe },
  discover: { usage: DISCOVER_USAGE, run: runDiscover },
  send: { usage: SEND_USAGE, run: runSend },
  inbox: { usage: INBOX_USAGE, run: runInbox },
  outbox: { usage: OUTBOX_USAGE, run: runOutbox },
};

export const MAIN_USAGE = `Usage: indiepm COMMAND [options]

Private messages between personal websites (rel=pm).

Commands:
  serve       run a standalone pm server
  discover    print the pm endpoint a site names
  send        write a message and deliver it
  inbox       list received messages
  outbox      list sent messages and their deliveries

Client commands talk to a running server: --server URL (default env INDIEPM_SERVER,
else http://127.0.0.1:8080/) and the owner token in env INDIEPM_TOKEN (or --token).
Run \`indiepm COMMAND --help\` for a command's options.
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version?: string };
  return pkg.version ?? "0.0.0";
}

/** Runs `indiepm` with `argv` (without `node` and the script) and resolves with the exit status. */
export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined) {
      io.stderr(MAIN_USAGE);
      return EXIT_USAGE;
    }
    if (name === "--help" || name === "-h" || name === "help") {
      const topic = name === "help" && rest[0] !== undefined ? COMMANDS[rest[0]] : undefined;
      io.stdout(topic ? topic.usage : MAIN_USAGE);
      return EXIT_OK;
    }
    if (name === "--version" || name === "-v") {
      io.stdout(`${version()}\n`);
      return EXIT_OK;
    }
    const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (!command) {
      io.stderr(`indiepm: unknown command ${JSON.stringify(name)}; run \`indiepm --help\` for the list.\n`);
      return EXIT_USAGE;
    }
    if (wantsHelp(rest)) {
      io.stdout(command.usage);
      return EXIT_OK;
    }
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof CliError) {
      io.stderr(`${error.message}\n`);
      return error.exitCode;
    }
    io.stderr(`indiepm${name ? ` ${name}` : ""}: ${sentence(error)}\n`);
    return EXIT_FAILURE;
  }
}
