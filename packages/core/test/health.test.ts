/**
 * CLI.md `GET /health`: `200 {"status":"ok"}` while the server can read and write its
 * store, `503 {"status":"unavailable"}` otherwise — what a load balancer polls.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createMemoryStore, createPmServer, openNedbStore, type Store } from "../src/index.js";

const quiet = { info() {}, warn() {}, error() {} };
const serverOn = (store: Store) => createPmServer({ endpoint: "https://pm.example.net/", sites: ["https://example.net/"], store, logger: quiet });
const health = async (server: ReturnType<typeof serverOn>) => {
  const answer = await server.handle(new Request("https://pm.example.net/health"));
  return { status: answer.status, body: await answer.json() };
};

describe("GET /health", () => {
  it("answers 200 ok on a nedb store that can be written, 503 unavailable once its data folder is gone", async () => {
    const dir = await mkdtemp(join(tmpdir(), "indiepm-health-"));
    const server = serverOn(await openNedbStore({ dir }));
    expect(await health(server)).toEqual({ status: 200, body: { status: "ok" } });
    await rm(dir, { recursive: true, force: true });
    expect(await health(server)).toEqual({ status: 503, body: { status: "unavailable" } });
    await server.close().catch(() => undefined);
  });

  it("answers 503 once the store is closed, and while the server shuts down", async () => {
    const store = createMemoryStore();
    const server = serverOn(store);
    expect(await health(server)).toEqual({ status: 200, body: { status: "ok" } });
    await store.close();
    expect(await health(server)).toEqual({ status: 503, body: { status: "unavailable" } });
    const other = serverOn(createMemoryStore());
    await other.close();
    expect(await health(other)).toEqual({ status: 503, body: { status: "unavailable" } });
  });
});
