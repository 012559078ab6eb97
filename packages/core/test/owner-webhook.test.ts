/**
 * The owner's webhook as the settings page sees it (owner/webhook.ts): a test document
 * POSTed now through the guarded client, and the last failure of the notifications
 * queued for the site.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createPmServer } from "../src/server.js";
import { createMemoryStore } from "../src/store/memory.js";
import type { PmServer } from "../src/api.js";
import type { WebhookDoc } from "../src/protocol/records.js";

const BOB = "http://127.0.0.1:9/bob/";
const quiet = { info() {}, warn() {}, error() {} };
const opened: { close(grace?: number): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0)) await o.close(0);
});

function server(): PmServer {
  const store = createMemoryStore();
  const pm = createPmServer({ endpoint: "http://127.0.0.1:9/", sites: [BOB], store, dev: true, logger: quiet });
  opened.push(pm);
  return pm;
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const s = createServer(handler);
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}/`;
  return { url, close: () => new Promise<void>((resolve) => s.close(() => resolve())) };
}

async function closedPort(): Promise<number> {
  const s = await listen(() => {});
  await s.close();
  return Number(new URL(s.url).port);
}

async function receiver(status: number) {
  const bodies: unknown[] = [];
  const r = await listen((req, res) => {
    let text = "";
    req.on("data", (c) => (text += c));
    req.on("end", () => {
      bodies.push({ type: req.headers["content-type"], body: JSON.parse(text) });
      res.writeHead(status).end();
    });
  });
  opened.push(r);
  return Object.assign(r, { bodies });
}

describe("testing a webhook", () => {
  it("POSTs one test document as JSON and says the webhook took it", async () => {
    const pm = server();
    const hook = await receiver(204);
    await pm.updateSettings(BOB, { webhook: `${hook.url}hook` });
    const result = await pm.testWebhook(BOB);
    expect(result).toMatchObject({ ok: true, status: 204, url: `${hook.url}hook` });
    expect(hook.bodies).toEqual([
      {
        type: "application/json",
        body: { type: "test", recipient: BOB, sentAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/), excerpt: expect.any(String) },
      },
    ]);
  });

  it("says what went wrong when the webhook answers an error, and queues nothing", async () => {
    const pm = server();
    const hook = await receiver(500);
    await pm.updateSettings(BOB, { webhook: `${hook.url}hook` });
    expect(await pm.testWebhook(BOB)).toMatchObject({ ok: false, error: "server_error", detail: "The webhook answered 500." });
    expect(hook.bodies).toHaveLength(1);
    expect((await pm.webhookStatus(BOB)).pending).toBe(0);
  });

  it("says so when nothing answers", async () => {
    const pm = server();
    await pm.updateSettings(BOB, { webhook: `http://127.0.0.1:${await closedPort()}/hook` });
    expect(await pm.testWebhook(BOB)).toMatchObject({ ok: false, error: "network_error" });
  });

  it("refuses a site without a webhook", async () => {
    await expect(server().testWebhook(BOB)).rejects.toMatchObject({ code: "invalid_request" });
  });
});

describe("a webhook's last failure", () => {
  const doc = (id: string, fields: Partial<WebhookDoc>): WebhookDoc => ({
    _id: id,
    site: BOB,
    url: "http://127.0.0.1:8/hook",
    payload: {},
    status: "pending",
    rev: 0,
    attempts: 0,
    nextAttemptAt: Date.UTC(2026, 11, 7, 9),
    createdAt: Date.UTC(2026, 11, 7, 7),
    updatedAt: Date.UTC(2026, 11, 7, 7),
    ...fields,
  });

  it("is none while nothing failed", async () => {
    const pm = server();
    expect(await pm.webhookStatus(BOB)).toEqual({ pending: 0 });
  });

  it("is the notification that failed last, given up or retrying, of this site only", async () => {
    const store = createMemoryStore();
    const pm = createPmServer({ endpoint: "http://127.0.0.1:9/", sites: [BOB], store, dev: true, logger: quiet });
    opened.push(pm);
    await store.insert(
      "webhooks",
      doc("a", { status: "failed", error: "bad_response", detail: "The webhook answered 404.", updatedAt: Date.UTC(2026, 11, 7, 7, 5) }),
    );
    await store.insert("webhooks", doc("b", { error: "network_error", detail: "connect ECONNREFUSED", attempts: 3, updatedAt: Date.UTC(2026, 11, 7, 7, 30) }));
    await store.insert("webhooks", doc("c", { updatedAt: Date.UTC(2026, 11, 7, 8) })); // queued, not tried yet
    await store.insert("webhooks", doc("d", { site: "http://127.0.0.1:9/other/", status: "failed", error: "timeout", updatedAt: Date.UTC(2026, 11, 7, 8) }));
    expect(await pm.webhookStatus(BOB)).toEqual({
      pending: 2,
      lastFailure: {
        at: "2026-12-07T07:30:00Z",
        url: "http://127.0.0.1:8/hook",
        state: "retrying",
        error: "network_error",
        detail: "connect ECONNREFUSED",
        attempts: 3,
        nextAttemptAt: "2026-12-07T09:00:00Z",
      },
    });
    await store.remove("webhooks", "b");
    expect((await pm.webhookStatus(BOB)).lastFailure).toMatchObject({ at: "2026-12-07T07:05:00Z", state: "failed", error: "bad_response" });
  });
});
