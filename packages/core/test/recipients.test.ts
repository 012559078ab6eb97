/**
 * Recipients are checked before a message is accepted (issue 12; owner/recipients.ts):
 * a To field is parsed strictly into site addresses, and with `checkRecipients` (the owner
 * API, the web inbox) each recipient's rel=pm is discovered first — a site that names
 * none, or whose page answers a final 4xx (PROTOCOL.md §6 Retries), refuses the message
 * with a sentence naming it; one that cannot be reached now is accepted and retried.
 */
import { describe, expect, it } from "vitest";
import { PmError } from "../src/errors.js";
import type { FetchedPage, HttpClient } from "../src/http/types.js";
import { parseRecipientList, RecipientsRefusedError } from "../src/owner/recipients.js";
import { createPmServer } from "../src/server.js";
import { createMemoryStore } from "../src/store/memory.js";
import type { Store } from "../src/store/types.js";

const SITE = "https://alice.example.org/";
const OWNER_TOKEN = "owner-token-0123456789abcdef";
const quiet = { info() {}, warn() {}, error() {} };
const PRODUCTION = { dev: false };
const DEV = { dev: true };

/** How a fake site answers its discovery GET: a page, or a failure thrown. */
type Answer = { status: number; headers?: Record<string, string>; html?: string } | PmError;

/** An outbound client serving `pages` by URL and counting the discovery GETs of each (§1 discovery streams: `stopWhen`). */
function fakeHttp(pages: Record<string, Answer>): HttpClient & { gets: Record<string, number> } {
  const gets: Record<string, number> = {};
  return {
    gets,
    async get(url, options) {
      if (options?.stopWhen) gets[url] = (gets[url] ?? 0) + 1;
      const answer = pages[url];
      if (answer === undefined) throw new PmError("network_error", `${url}: connection refused`);
      if (answer instanceof PmError) throw answer;
      const page: FetchedPage = {
        url,
        status: answer.status,
        headers: new Headers({ "content-type": "text/html", ...answer.headers }),
        body: new TextEncoder().encode(answer.html ?? ""),
        truncated: false,
        redirects: [url],
        hops: [{ url, status: answer.status }],
      };
      return page;
    },
    // Every endpoint is busy: a 503 (retried later, and no sign that a cached endpoint moved).
    async postForm(url) {
      const json = { error: "temporarily_unavailable", error_description: "Busy." };
      return { url, status: 503, headers: new Headers({ "content-type": "application/json" }), text: JSON.stringify(json), json };
    },
  };
}

const WITH_PM: Answer = { status: 200, html: '<link rel="pm" href="https://pm.example.net/">' };
const WITHOUT_PM: Answer = { status: 200, html: "<title>Bob's site</title><p>No messages here." };

function serverWith(pages: Record<string, Answer>, store: Store = createMemoryStore()) {
  const http = fakeHttp(pages);
  const pm = createPmServer({ endpoint: "https://pm.alice.example.org/", sites: [SITE], store, http, logger: quiet, ownerToken: OWNER_TOKEN });
  return { pm, http, store };
}

describe("a To field is parsed strictly: site addresses separated by commas, spaces or new lines", () => {
  it("takes bare hosts as https sites, URLs as they are, each once", () => {
    expect(parseRecipientList("bob.example.com, carol.example\nhttps://dave.example.net/~d  bob.example.com", PRODUCTION)).toEqual([
      "https://bob.example.com/",
      "https://carol.example/",
      "https://dave.example.net/~d",
    ]);
  });

  it.each([
    ["not a site!!", "“not” is not a site address"],
    ["bob", "“bob” is not a site address"],
    ["bob.example.com site!!.example", "“site!!.example” is not a site address"],
    ["mailto:bob@example.com", "“mailto:bob@example.com” is not a site address"],
    ["https://bob.example.com/#me", "“https://bob.example.com/#me” is not a site address"],
    ["127.0.0.1:4003", "“127.0.0.1:4003” is not a site address"],
    ["http://bob.example.com/", "“http://bob.example.com/” is not a site address"],
  ])("refuses %j in production with a sentence naming the entry", (text, sentence) => {
    let error: unknown;
    try {
      parseRecipientList(text, PRODUCTION);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PmError);
    expect((error as PmError).code).toBe("invalid_request");
    expect((error as PmError).message).toContain(sentence);
  });

  it("in development mode takes loopback and IP hosts (bare ones as http), and still refuses a bare word", () => {
    expect(parseRecipientList("127.0.0.1:4003 localhost:4004/bob", DEV)).toEqual(["http://127.0.0.1:4003/", "http://localhost:4004/bob"]);
    expect(() => parseRecipientList("127.0.0.1:4003 bob", DEV)).toThrow(/“bob” is not a site address/);
  });

  it("refuses an empty field", () => {
    expect(() => parseRecipientList(" ,\n ", PRODUCTION)).toThrow(/at least one site/);
  });

  it("the owner API refuses a `to` whose host is not a site address", async () => {
    const { pm } = serverWith({});
    await expect(pm.send({ from: SITE, to: ["https://bob/"], content: "hi" })).rejects.toThrow(/https:\/\/bob\/ is not a site address/);
    await pm.close();
  });
});

describe("with checkRecipients, each recipient's rel=pm is discovered before the message is accepted", () => {
  it("a site whose page names no pm endpoint refuses the message, naming it in plain words, and nothing is stored", async () => {
    const { pm, store } = serverWith({ "https://bob.example.com/": WITHOUT_PM, "https://carol.example/": WITH_PM });
    const error = await pm
      .send({ from: SITE, to: ["https://carol.example/", "https://bob.example.com/"], content: "hi" }, { checkRecipients: true })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RecipientsRefusedError);
    expect((error as RecipientsRefusedError).code).toBe("invalid_request");
    expect((error as RecipientsRefusedError).refusals).toEqual([
      {
        site: "https://bob.example.com/",
        code: "no_endpoint",
        text: "bob.example.com does not take private messages.",
        detail: expect.stringContaining("rel=pm"),
      },
    ]);
    expect(await store.count("outbox")).toBe(0);
    expect(await store.count("deliveries")).toBe(0);
    await pm.close();
  });

  it.each([404, 410])("a site whose page answers %i refuses the message: there is no page at that address", async (status) => {
    const { pm } = serverWith({ "https://bob.example.com/": { status } });
    await expect(pm.send({ from: SITE, to: ["https://bob.example.com/"], content: "hi" }, { checkRecipients: true })).rejects.toThrow(
      /^bob\.example\.com does not take private messages: there is no page at that address \(.*answered/,
    );
    await pm.close();
  });

  it.each([
    ["a 503", { status: 503 }],
    ["no answer in time", new PmError("timeout", "https://bob.example.com/ did not answer within 5 s.")],
    ["a refused connection", undefined],
  ] as const)("a site that cannot be reached now (%s) is accepted, its delivery pending and saying so", async (_name, answer) => {
    const { pm } = serverWith(answer === undefined ? {} : { "https://bob.example.com/": answer });
    const sent = await pm.send({ from: SITE, to: ["https://bob.example.com/"], content: "hi" }, { checkRecipients: true });
    expect(sent.deliveries).toEqual([
      expect.objectContaining({
        recipient: "https://bob.example.com/",
        status: "pending",
        detail: expect.stringMatching(/^Could not be reached .*trying again\.$/),
      }),
    ]);
    await pm.close();
  });

  it("the endpoint found is kept where the page's Cache-Control allows: the next check makes no GET", async () => {
    const cached = serverWith({ "https://bob.example.com/": { ...WITH_PM, headers: { "cache-control": "max-age=600" } } as Answer });
    const plain = serverWith({ "https://bob.example.com/": WITH_PM });
    for (const { pm } of [cached, plain]) {
      for (const content of ["one", "two"]) await pm.send({ from: SITE, to: ["https://bob.example.com/"], content }, { checkRecipients: true });
      await pm.close();
    }
    expect(cached.http.gets["https://bob.example.com/"]).toBe(1);
    expect(plain.http.gets["https://bob.example.com/"]).toBe(2);
  });

  it("the delivery then starts from the endpoint the check found (its step 1 makes no GET) where Cache-Control allows", async () => {
    const { pm, http, store } = serverWith({ "https://bob.example.com/": { ...WITH_PM, headers: { "cache-control": "max-age=600" } } as Answer });
    await pm.send({ from: SITE, to: ["https://bob.example.com/"], content: "hi" }, { checkRecipients: true });
    await pm.start();
    const deadline = Date.now() + 5_000;
    // The delivery's first try: step 1 from the cache, then its POST to the endpoint answers 503 and it waits.
    while ((await store.find<{ _id: string; attempts: number }>("deliveries"))[0]!.attempts === 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    expect((await store.find<{ _id: string; attempts: number }>("deliveries"))[0]!.attempts).toBe(1);
    expect(http.gets["https://bob.example.com/"]).toBe(1);
    await pm.close();
  });

  it("without checkRecipients a message is queued as before (the delivery finds out)", async () => {
    const { pm, http } = serverWith({ "https://bob.example.com/": WITHOUT_PM });
    const sent = await pm.send({ from: SITE, to: ["https://bob.example.com/"], content: "hi" });
    expect(sent.deliveries).toEqual([expect.objectContaining({ status: "pending" })]);
    expect(http.gets["https://bob.example.com/"]).toBeUndefined();
    await pm.close();
  });

  it("the owner API checks: POST /api/messages to a site without rel=pm answers 400 invalid_request with the sentence", async () => {
    const { pm, store } = serverWith({ "https://bob.example.com/": WITHOUT_PM });
    const response = await pm.handle(
      new Request("https://pm.alice.example.org/api/messages", {
        method: "POST",
        headers: { authorization: `Bearer ${OWNER_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ from: SITE, to: ["https://bob.example.com/"], content: "hi" }),
      }),
    );
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: "invalid_request",
      error_description: expect.stringMatching(/^bob\.example\.com does not take private messages \(.*rel=pm.*\)\.$/),
    });
    expect(await store.count("outbox")).toBe(0);
    await pm.close();
  });
});
