/**
 * The README's first command runs the demo: the four hosts, a message by each flow,
 * every step printed. This runs the built demo as a newcomer would (with --once).
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const main = fileURLToPath(new URL("../../packages/demo/dist/main.js", import.meta.url));

describe("pnpm demo", () => {
  it("runs both flows between the seed's four hosts and prints each step", () => {
    const run = spawnSync(process.execPath, [main, "--once", "--port-base", "0"], { encoding: "utf8", timeout: 60_000 });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    const lines = run.stdout.split("\n");
    const steps = (flow: string) => lines.filter((l) => l.trimStart().startsWith(flow)).map((l) => l.trim().replace(/\s+/g, " "));
    // §3: every step of the seed's main diagram, with the hosts' seed names.
    expect(steps("§3")).toEqual([
      "§3 step 1 pm.alice.example.uk → bob.example.com GET, looks for rel=pm 200 (rel=pm → pm.bob.example.net)",
      "§3 step 2 pm.alice.example.uk → pm.bob.example.net POST action=notify 202",
      "§3 step 3 pm.bob.example.net → alice.example.org GET, looks for rel=pm 200 (rel=pm → pm.alice.example.uk)",
      "§3 step 3 pm.bob.example.net → pm.alice.example.uk POST action=verify 200",
      "§3 step 5 pm.alice.example.uk → bob.example.com GET, looks for rel=pm 200 (rel=pm → pm.bob.example.net)",
      "§3 step 4 pm.bob.example.net → pm.alice.example.uk POST action=request 202",
      "§3 step 6 pm.alice.example.uk → pm.bob.example.net POST action=deliver 201",
    ]);
    // §4: one handshake, then a second message is a single deliver.
    expect(steps("§4").map((l) => `${l.split(" ").slice(0, 3).join(" ")} ${l.match(/action=(\w+)|GET/)?.[0] ?? ""}`)).toEqual([
      "§4 step 1 GET",
      "§4 step 2 action=authorize",
      "§4 step 3 GET",
      "§4 step 3 action=verify",
      "§4 step 5 GET",
      "§4 step 4 action=grant",
      "§4 step 6 action=deliver",
      "§4 step 1 GET",
      "§4 step 6 action=deliver",
    ]);
    expect(run.stdout).toContain("Bob got from alice.example.org: [Hello] Hi Bob!");
    expect(run.stdout).toContain("Alice got from bob.example.com: [Re: Hello] Hi Alice!");
    expect(run.stdout.trim().split("\n").at(-1)).toBe("demo: both flows delivered.");
  });
});
