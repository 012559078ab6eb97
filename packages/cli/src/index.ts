/**
 * `@indiepm/cli`: the `indiepm` command (`main`) and the standalone server it runs
 * (`startServer`, whose routing of engine and web inbox is `withWebInbox`), for the demo
 * and tests that want one in-process.
 */
export { main } from "./main.js";
export { MAIN_USAGE } from "./help.js";
export type { Io } from "./io.js";
export { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./cli-error.js";
export { startServer, stderrLogger, defaultPublicUrl } from "./standalone.js";
export { withWebInbox } from "./with-web-inbox.js";
export { DEFAULT_DATA_DIR, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_SERVER, SHUTDOWN_GRACE_MS } from "./defaults.js";
export type { StandaloneServer, StartServerOptions } from "./standalone.js";
export { createOwnerClient, OWNER_ROUTES } from "./client.js";
export type { OwnerClient, OwnerClientOptions, SendAnswer } from "./client.js";
