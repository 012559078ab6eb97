/**
 * `indiepm`: dispatch to the commands of CLI.md. Every command has `--help` (stdout,
 * exit 0); a usage error exits 2 and any other error 1, each as one sentence on stderr,
 * never a stack. A command's module (and with it the engine) is loaded only when it
 * runs, so `--help` answers at once.
 */
import { readFileSync } from "node:fs";
import { wantsHelp } from "./args.js";
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, sentence } from "./cli-error.js";
import { DISCOVER_USAGE, GHOST_USAGE, INBOX_USAGE, MAIN_USAGE, MIGRATE_USAGE, OUTBOX_USAGE, SEND_USAGE, SERVE_USAGE } from "./help.js";
import { processIo, type Io } from "./io.js";

type Run = (argv: readonly string[], io: Io) => Promise<number>;

interface Command {
  usage: string;
  load(): Promise<Run>;
}

const COMMANDS: Record<string, Command> = {
  serve: { usage: SERVE_USAGE, load: async () => (await import("./serve.js")).runServe },
  migrate: { usage: MIGRATE_USAGE, load: async () => (await import("./migrate.js")).runMigrate },
  discover: { usage: DISCOVER_USAGE, load: async () => (await import("./discover.js")).runDiscover },
  send: { usage: SEND_USAGE, load: async () => (await import("./send.js")).runSend },
  inbox: { usage: INBOX_USAGE, load: async () => (await import("./inbox.js")).runInbox },
  outbox: { usage: OUTBOX_USAGE, load: async () => (await import("./outbox.js")).runOutbox },
  ghost: { usage: GHOST_USAGE, load: async () => (await import("./ghost.js")).runGhost },
};

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
      const topic = name === "help" && rest[0] !== undefined && Object.hasOwn(COMMANDS, rest[0]) ? COMMANDS[rest[0]] : undefined;
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
    const run = await command.load();
    return await run(rest, io);
  } catch (error) {
    if (error instanceof CliError) {
      io.stderr(`${error.message}\n`);
      return error.exitCode;
    }
    io.stderr(`indiepm${name ? ` ${name}` : ""}: ${sentence(error)}\n`);
    return EXIT_FAILURE;
  }
}
