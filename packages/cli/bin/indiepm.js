#!/usr/bin/env node
// The `indiepm` command (CLI.md). Built by `tsc -b` into ../dist.
import { existsSync } from "node:fs";

const built = new URL("../dist/main.js", import.meta.url);
if (!existsSync(built)) {
  process.stderr.write("indiepm: the command is not built yet; run `pnpm build` (tsc -b) in the repository first.\n");
  process.exit(1);
}
const { main } = await import(built.href);
const code = await main(process.argv.slice(2));
process.exitCode = code;
// Done: lingering keep-alive sockets or timers must not keep the command running, and a
// late signal must not turn `serve`'s graceful exit 0 into a kill. Exit once what was
// written to stdout and stderr has been flushed.
let streams = 2;
const flushed = () => {
  if (--streams === 0) process.exit(code);
};
process.stdout.write("", flushed);
process.stderr.write("", flushed);
