/** Defaults of CLI.md, in one place. */

/** `serve --port` (0 picks a free port). */
export const DEFAULT_PORT = 8080;
/** `serve --host`. */
export const DEFAULT_HOST = "127.0.0.1";
/** `serve --data`, relative to the working folder. */
export const DEFAULT_DATA_DIR = ".indiepm";
/** Client commands' `--server` without INDIEPM_SERVER. */
export const DEFAULT_SERVER = "http://127.0.0.1:8080/";
/** On SIGTERM/SIGINT, accepted work gets at most 10 s. */
export const SHUTDOWN_GRACE_MS = 10_000;
/** `send --timeout`, seconds. */
export const DEFAULT_SEND_TIMEOUT_SECONDS = 60;
/** `ghost proxy --upstream`: where `indiepm serve` listens by default. */
export const DEFAULT_PM_UPSTREAM = `http://${DEFAULT_HOST}:${DEFAULT_PORT}`;
/** `ghost proxy --ghost`: where Ghost listens by default. */
export const DEFAULT_GHOST_UPSTREAM = "http://127.0.0.1:2368";
