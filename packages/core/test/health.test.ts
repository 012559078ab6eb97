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

describe("federation while the store is unavailable", () => {
  it("answers 503 temporarily_unavailable with Retry-After (§2, the peer retries) and logs one warning line, not an error with a stack", async () => {
    const lines: { level: string; message: string; fields: unknown }[] = [];
    const logger = {
      info() {},
      warn: (message: string, fields?: unknown) => lines.push({ level: "warn", message, fields }),
      error: (message: string, fields?: unknown) => lines.push({ level: "error", message, fields }),
    };
    const store = createMemoryStore();
    const server = createPmServer({ endpoint: "https://pm.example.net/", sites: ["https://example.net/"], store, logger });
    await store.close();
    const body = new URLSearchParams({
      action: "deliver",
      sender: "https://a.example/",
      recipient: "https://example.net/",
      message: "urn:uuid:1",
      published: "2026-12-07T05:00:00Z",
      content: "hi",
    });
    const answer = await server.handle(
      new Request("https://pm.example.net/", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: "Bearer abc" },
        body,
      }),
    );
    expect(answer.status).toBe(503);
    expect(((await answer.json()) as { error: string }).error).toBe("temporarily_unavailable");
    expect(answer.headers.get("retry-after")).not.toBeNull();
    expect(lines.map((l) => l.level)).toEqual(["warn"]);
    expect(JSON.stringify(lines[0]!.fields)).not.toContain("    at ");
  });
});
