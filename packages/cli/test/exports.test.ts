/** The public surface is deliberate (STYLE.md practice 10): a new export shows up here. */
import { expect, it } from "vitest";
import * as api from "../src/index.js";

it("exports exactly these names", () => {
  expect(Object.keys(api).sort()).toEqual([
    "CliError",
    "DEFAULT_DATA_DIR",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_SERVER",
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "MAIN_USAGE",
    "OWNER_ROUTES",
    "SHUTDOWN_GRACE_MS",
    "createOwnerClient",
    "defaultPublicUrl",
    "main",
    "startServer",
    "stderrLogger",
    "withWebInbox",
  ]);
});
