/**
 * `@indiepm/cli`: the `indiepm` command (`main`) and the standalone server it runs
 * (`startServer`), for the demo and tests that want one in-process.
 */
export { main, MAIN_USAGE } from "./main.js";
export type { Io } from "./io.js";
export { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./cli-error.js";
export { startServer, stderrLogger, defaultPublicUrl, SHUTDOWN_GRACE_MS } from "./standalone.js";
export type { StandaloneServer, StartServerOptions } from "./standalone.js";
export { createOwnerClient, OWNER_ROUTES } from "./client.js";
export type { OwnerClient, OwnerClientOptions, SendAnswer } from "./client.js";
