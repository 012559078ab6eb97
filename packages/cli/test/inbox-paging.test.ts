/**
 * `indiepm inbox` and `outbox` list everything (issue 11: before, they stopped at the
 * server's first page of 100), following the owner API's `Link: rel="next"` page after
 * page; `--limit N` stops at N.
 */
import { createMemoryStore } from "@indiepm/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type StandaloneServer } from "../src/index.js";
import { runMain } from "./helpers.js";

const TOKEN = "owner-token-for-tests-0123456789";
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const BOB = "https://bob.example/";
const ALICE = "https://alice.example/";

let server: StandaloneServer;
const env = () => ({ INDIEPM_SERVER: server.url, INDIEPM_TOKEN: TOKEN });

beforeAll(async () => {
  const store = createMemoryStore();
  const at = 1_700_000_000_000;
  // Written as the code before issue 11 wrote them (no conversation or page key): filed on the first read.
  for (let i = 0; i < 1234; i++) {
    const message = `urn:in:${i}`;
    await store.insert("inbox", {
      _id: `in-${i}`,
      message,
      sender: ALICE,
      recipient: BOB,
      content: `m${i}`,
      published: "2024-01-01T00:00:00Z",
      receivedAt: at + Math.floor(i / 3),
    });
  }
  for (let i = 0; i < 130; i++) {
    const message = `urn:out:${i}`;
    await store.insert("outbox", {
      _id: `out-${i}`,
      message,
      sender: BOB,
      recipients: [ALICE],
      content: `o${i}`,
      published: "2024-01-01T00:00:00Z",
      flow: "token",
      createdAt: at + i,
    });
  }
  server = await startServer({ port: 0, dev: true, ownerToken: TOKEN, logger: quiet, sites: [BOB], store });
});

afterAll(async () => {
  await server?.close(1000);
});

describe("inbox and outbox page through everything", () => {
  it("inbox --json lists all 1,234 messages, newest first, each once (two pages of the server's 1,000)", async () => {
    const { code, stdout } = await runMain(["inbox", "--json"], env());
    expect(code).toBe(0);
    const messages = (JSON.parse(stdout) as { message: string; receivedAt: string }[]).map((m) => m.message);
    expect(messages).toHaveLength(1234);
    expect(new Set(messages).size).toBe(1234);
    expect(messages.at(-1)).toBe("urn:in:0");
    expect(messages[0]).toMatch(/^urn:in:123[123]$/);
  });

  it("inbox --limit 150 stops at 150; outbox lists all 130", async () => {
    const limited = JSON.parse((await runMain(["inbox", "--json", "--limit", "150"], env())).stdout) as unknown[];
    expect(limited).toHaveLength(150);
    const sent = JSON.parse((await runMain(["outbox", "--json"], env())).stdout) as { message: string }[];
    expect(sent.map((m) => m.message)).toEqual(Array.from({ length: 130 }, (_, i) => `urn:out:${129 - i}`));
  });
});
