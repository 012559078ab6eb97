/**
 * When src/batch.ts starts a statement (group commit), with a `run` the test holds open:
 * at once when none is under way; beside one under way when `fill` calls wait or the
 * latest has taken `waitMs`; never more than `statements`; the calls that wait go together.
 */
import { describe, expect, it } from "vitest";
import { type CallResult, WriteBatches } from "../src/batch.js";
import type { WriteCall } from "../src/sql.js";

/** A `run` whose statements stay under way until the test ends them; each records its calls' IDs. */
function heldRun() {
  const statements: { ids: string[]; end: () => void }[] = [];
  const run = (calls: readonly WriteCall[]) =>
    new Promise<CallResult[]>((resolve) => {
      statements.push({
        ids: calls.map((c) => (c.writes[0] as { doc: { _id: string } }).doc._id),
        end: () => resolve(calls.map((c) => ({ given: undefined, made: c.writes.map(() => true) }))),
      });
    });
  return { statements, run };
}
const call = (id: string): WriteCall => ({ writes: [{ insert: "inbox", doc: { _id: id } }] });
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("group commit: when a statement starts", () => {
  it("at once when none is under way; the calls made meanwhile wait, and go together when it ends", async () => {
    const { statements, run } = heldRun();
    const batches = new WriteBatches(run, { statements: 4, waitMs: 60_000, fill: 4, calls: 16 });
    const first = batches.write(call("a"));
    await tick();
    expect(statements.map((s) => s.ids)).toEqual([["a"]]);
    const rest = ["b", "c", "d"].map((id) => batches.write(call(id)));
    await tick();
    expect(statements).toHaveLength(1);
    statements[0]!.end();
    await first;
    await tick();
    expect(statements.map((s) => s.ids)).toEqual([["a"], ["b", "c", "d"]]);
    statements[1]!.end();
    expect(await Promise.all(rest)).toEqual([0, 1, 2].map(() => ({ given: undefined, made: [true] })));
  });

  it("beside one under way when fill calls wait, up to statements at once", async () => {
    const { statements, run } = heldRun();
    const batches = new WriteBatches(run, { statements: 2, waitMs: 60_000, fill: 4, calls: 16 });
    void batches.write(call("a"));
    for (const id of ["b", "c", "d"]) void batches.write(call(id));
    await tick();
    expect(statements).toHaveLength(1);
    void batches.write(call("e"));
    await tick();
    expect(statements.map((s) => s.ids)).toEqual([["a"], ["b", "c", "d", "e"]]);
    // Two under way: a third waits, however many calls wait.
    for (const id of ["f", "g", "h", "i", "j"]) void batches.write(call(id));
    await tick();
    expect(statements).toHaveLength(2);
    statements[0]!.end();
    await tick();
    expect(statements[2]!.ids).toEqual(["f", "g", "h", "i", "j"]);
  });

  it("beside one under way once the latest has taken waitMs, for fewer than fill calls", async () => {
    const { statements, run } = heldRun();
    const batches = new WriteBatches(run, { statements: 4, waitMs: 40, fill: 100, calls: 16 });
    void batches.write(call("slow"));
    await tick();
    void batches.write(call("b"));
    await tick();
    expect(statements).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(statements.map((s) => s.ids)).toEqual([["slow"], ["b"]]);
  });

  it("at most calls in one statement; the rest in the next", async () => {
    const { statements, run } = heldRun();
    const batches = new WriteBatches(run, { statements: 1, waitMs: 60_000, fill: 100, calls: 3 });
    void batches.write(call("a"));
    for (const id of ["b", "c", "d", "e"]) void batches.write(call(id));
    await tick();
    statements[0]!.end();
    await tick();
    await tick();
    expect(statements[1]!.ids).toEqual(["b", "c", "d"]);
    statements[1]!.end();
    await tick();
    await tick();
    expect(statements[2]!.ids).toEqual(["e"]);
  });
});
