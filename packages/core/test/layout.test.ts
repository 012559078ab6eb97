/**
 * The layout rules of issue 10 item 2, checked on the source: the owner side imports
 * only types from protocol/ (its work reaches the engine through server.ts), the engine
 * keeps no state at module scope (every map belongs to an `Engine` made by
 * `createPmServer`), and each §3/§4 action has its own module exporting its `answer…`.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { ACTIONS } from "@indiepm/protocol";

const SRC = join(import.meta.dirname, "../src");

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(join(dir, e.name)) : /\.(ts|js)$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

/** Every import or export-from statement of a file, whole (they may span lines). */
function importsOf(text: string): string[] {
  return [...text.matchAll(/^(?:import|export)\s[^;]*?\sfrom\s+"[^"]+";/gms)].map((m) => m[0]);
}

describe("layout", () => {
  it("owner/ imports nothing but types from protocol/", () => {
    const offending = tsFiles(join(SRC, "owner")).flatMap((file) =>
      importsOf(readFileSync(file, "utf8"))
        .filter((s) => /from\s+"\.\.\/protocol\//.test(s) && !/^(?:import|export)\s+type\s/.test(s))
        .map((s) => `${relative(SRC, file)}: ${s}`),
    );
    expect(offending).toEqual([]);
  });

  it("no Map, Set or let at module scope in the engine's TypeScript", () => {
    const offending = tsFiles(SRC)
      .filter((file) => file.endsWith(".ts"))
      .flatMap((file) =>
        readFileSync(file, "utf8")
          .split("\n")
          .filter((line) => /^(?:export\s+)?(?:let|var)\s/.test(line) || /^(?:export\s+)?const\s+\w+\s*=\s*new\s+(?:Weak)?(?:Map|Set)\b(?!\(\[)/.test(line))
          .map((line) => `${relative(SRC, file)}: ${line}`),
      );
    expect(offending).toEqual([]);
  });

  it.each(ACTIONS)("action %s: its own module under protocol/actions/, exporting its answer", async (action) => {
    const module = (await import(join(SRC, "protocol/actions", `${action}.ts`))) as Record<string, unknown>;
    const name = `answer${action[0]!.toUpperCase()}${action.slice(1)}`;
    expect(typeof module[name]).toBe("function");
  });
});
