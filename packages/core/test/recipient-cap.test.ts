/**
 * One recipient cap for every way of sending (issue 13 follow-up; limits.ts `MAX_RECIPIENTS`):
 * a message naming more than 100 sites — each site counted once, however it is spelled —
 * is refused with `invalid_request` and a sentence naming the limit and how many were
 * named, before any recipient's page is fetched and before anything is written, whether or
 * not the recipients are checked. The owner API (`POST /api/messages`, what the CLI's `send`
 * uses) answers it `400` in the §2 JSON shape.
 *
 * The recipients are paths on one loopback site server (`http://127.0.0.1:PORT/p1/`, … are
 * different sites) whose pages name a pm endpoint nobody answers, and which counts every
 * request: "nothing fetched" is counted, not assumed.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { PmServer } from "../src/api.js";
import { MAX_RECIPIENTS } from "../src/limits.js";
import type { InboxDoc } from "../src/protocol/records.js";
import { TooManyRecipientsError } from "../src/owner/recipients.js";
import { createPmServer } from "../src/server.js";
import { createMemoryStore } from "../src/store/memory.js";
import type { Store } from "../src/store/types.js";
import { startServer, type LoopbackServer } from "./support/loopback.js";

const ALICE = "http://127.0.0.1:9/alice/";
const OWNER_TOKEN = "owner-token-0123456789abcdef";
const quiet = { info() {}, warn() {}, error() {} };

let sites: LoopbackServer;
let store: Store;
let pm: PmServer;
beforeEach(async () => {
  // Every page names a pm endpoint (on a port nobody listens on: deliveries wait), and may be kept an hour (§1), so a delivery reuses what the check found.
  sites = await startServer((_req, res) =>
    res
      .writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "max-age=3600" })
      .end('<!doctype html><title>A site</title><link rel="pm" href="http://127.0.0.1:9/">'),
  );
  store = createMemoryStore();
  pm = createPmServer({ endpoint: "http://127.0.0.1:9/", sites: [ALICE], store, dev: true, logger: quiet, ownerToken: OWNER_TOKEN });
});
afterEach(async () => {
  await pm.close(0);
  await sites.close();
});

/** `n` different sites on the loopback site server. */
const people = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `${sites.origin}/p${from + i}/`);

async function refusal(send: Promise<unknown>): Promise<TooManyRecipientsError> {
  const error = await send.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TooManyRecipientsError);
  return error as TooManyRecipientsError;
}

async function nothingWritten() {
  expect(await store.count("outbox")).toBe(0);
  expect(await store.count("deliveries")).toBe(0);
}

describe("a message goes to at most MAX_RECIPIENTS (100) sites", () => {
  it("is 100", () => {
    expect(MAX_RECIPIENTS).toBe(100);
  });

  it("101 sites, with the recipients checked (the owner API, the web compose, Micropub): refused with invalid_request and a sentence, no page fetched, nothing written", async () => {
    const error = await refusal(pm.send({ from: ALICE, to: people(101), content: "hi all" }, { checkRecipients: true }));
    expect(error.code).toBe("invalid_request");
    expect(error.message).toBe("A message goes to at most 100 people; this one names 101.");
    expect({ limit: error.limit, given: error.given }).toEqual({ limit: 100, given: 101 });
    expect(sites.requests).toHaveLength(0);
    await nothingWritten();
  });

  it("101 sites without the check (a web reply, a script): refused all the same, nothing written or fetched", async () => {
    const error = await refusal(pm.send({ from: ALICE, to: people(101), content: "hi all" }));
    expect(error.message).toBe("A message goes to at most 100 people; this one names 101.");
    await nothingWritten();
    expect(sites.requests).toHaveLength(0);
  });

  it("a reply naming nobody goes to its thread's people (§5): a group of 101 others is refused too", async () => {
    const group = people(101);
    const received: InboxDoc = {
      _id: "received-1",
      message: "http://127.0.0.1:9/messages/party",
      sender: group[0]!,
      recipient: ALICE,
      to: [ALICE, ...group.slice(1)],
      content: "Party on Friday?",
      published: "2026-12-07T10:00:00Z",
      receivedAt: Date.now(),
    };
    await store.insert("inbox", received);
    const error = await refusal(pm.send({ from: ALICE, to: [], inReplyTo: received.message, content: "Count me in" }));
    expect(error.message).toBe("A message goes to at most 100 people; this one names 101.");
    await nothingWritten();
  });

  it("exactly 100 sites are taken: each page fetched once, one delivery each", async () => {
    const sent = await pm.send({ from: ALICE, to: people(100), content: "hi all" }, { checkRecipients: true });
    expect(sent.deliveries).toHaveLength(100);
    expect(new Set(sites.requests.map((r) => r.url)).size).toBe(100);
  });
});

describe("the same site named twice counts once (after normalization)", () => {
  it("100 sites each named twice, in two spellings, are 100 recipients: taken", async () => {
    const to = people(100).flatMap((site) => [site, site.replace(/^http:/, "HTTP:").replace(/\/$/, "/./")]);
    expect(new Set(to).size).toBe(200);
    const sent = await pm.send({ from: ALICE, to, content: "hi all" }, { checkRecipients: true });
    expect(sent.deliveries.map((d) => d.recipient)).toEqual(people(100));
  });

  it("101 sites among 202 entries: the sentence says 101", async () => {
    const to = people(101).flatMap((site) => [site, site.replace(/^http:/, "HTTP:")]);
    const error = await refusal(pm.send({ from: ALICE, to, content: "hi all" }, { checkRecipients: true }));
    expect(error.given).toBe(101);
    expect(error.message).toBe("A message goes to at most 100 people; this one names 101.");
  });

  it("the sender itself in `to` is not a recipient: 100 others and itself are taken", async () => {
    const sent = await pm.send({ from: ALICE, to: [...people(100), ALICE], content: "hi all" });
    expect(sent.deliveries).toHaveLength(100);
  });
});

describe("the owner API (POST /api/messages; the CLI's send)", () => {
  const post = (body: unknown) =>
    pm.handle(
      new Request("http://127.0.0.1:9/api/messages", {
        method: "POST",
        headers: { authorization: `Bearer ${OWNER_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      }),
    );

  it("101 recipients: 400 invalid_request with the sentence, no page fetched, nothing written", async () => {
    const res = await post({ from: ALICE, to: people(101), content: "hi all" });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ error: "invalid_request", error_description: "A message goes to at most 100 people; this one names 101." });
    expect(sites.requests).toHaveLength(0);
    await nothingWritten();
  });

  it("5,000 recipients in one request: answered at once, without looking any of them up", async () => {
    const started = performance.now();
    const res = await post({ from: ALICE, to: people(5000), content: "hi all" });
    expect(res.status).toBe(400);
    expect((await res.json()).error_description).toBe("A message goes to at most 100 people; this one names 5000.");
    expect(sites.requests).toHaveLength(0);
    expect(performance.now() - started).toBeLessThan(2000);
    await nothingWritten();
  });

  it("100 recipients: 202, as before", async () => {
    const res = await post({ from: ALICE, to: people(100), content: "hi all" });
    expect(res.status).toBe(202);
    expect(((await res.json()) as { deliveries: unknown[] }).deliveries).toHaveLength(100);
  });
});
