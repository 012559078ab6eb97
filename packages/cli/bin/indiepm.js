#!/usr/bin/env node
// The `indiepm` command (CLI.md). Built by `tsc -b` into ../dist.
import { main } from "../dist/main.js";

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Lingering keep-alive sockets or timers must not keep a finished command running.
setTimeout(() => process.exit(code), 2_000).unref();
