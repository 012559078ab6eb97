/**
 * The public surface is deliberate (STYLE.md practice 10): the names the package exports,
 * for ESM and for CommonJS (`require()` gives the plugin itself).
 */
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import * as api from "../src/index.js";
import { PACKAGE_DIR } from "./support/sites.js";

describe("exports", () => {
  it("ESM: the plugin as default and as `indiepm`, and the error type", () => {
    expect(Object.keys(api).sort()).toEqual(["PmPluginError", "default", "indiepm"]);
    expect(api.default).toBe(api.indiepm);
  });

  it("CommonJS: require() returns the plugin, the same function the ESM build exports", () => {
    // A plain node process (no "source" condition): what a CommonJS eleventy config gets.
    const script = `
      // Resolved by name from inside the package (a self-reference through its "exports").
      const plugin = require("node:module").createRequire(${JSON.stringify(`${PACKAGE_DIR}package.json`)})("@indiepm/eleventy-plugin");
      import(${JSON.stringify(`${PACKAGE_DIR}dist/index.js`)}).then((esm) => {
        process.stdout.write(JSON.stringify({ type: typeof plugin, same: plugin === esm.default, name: plugin.eleventyPackage, unique: plugin.eleventyPluginOptions.unique }));
      });`;
    const out = execFileSync(process.execPath, ["-e", script], {
      encoding: "utf8",
      env: { ...process.env, NODE_OPTIONS: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    expect(JSON.parse(out)).toEqual({ type: "function", same: true, name: "@indiepm/eleventy-plugin", unique: true });
  });
});
