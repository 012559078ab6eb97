/**
 * The web compose keeps the engine's one recipient cap (core limits.ts `MAX_RECIPIENTS`,
 * issue 13 follow-up): a To field naming more than 100 sites — each counted once, however
 * it is typed — is refused next to the To field in plain words, with every value kept, as
 * the other recipient refusals are, before any of them is looked up.
 */
import { createServer, type Server } from "node:http";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MAX_RECIPIENTS } from "@indiepm/core";
import { closeServer, listenLoopback } from "@indiepm/test-support";
import { Browser, startInboxHost, type InboxHost } from "./support.js";

let host: InboxHost;
/** Everyone's sites: paths on one loopback server (`/p0/`, `/p1/`… are different sites), whose pages name a pm endpoint nobody answers; every request counted. */
let sitesServer: Server;
let sites: string;
let fetched: string[];
beforeEach(async () => {
  host = await startInboxHost();
  fetched = [];
  sitesServer = createServer((req, res) => {
    fetched.push(req.url!);
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "max-age=3600" });
    res.end('<!doctype html><title>Someone</title><link rel="pm" href="http://127.0.0.1:9/">');
  });
  sites = await listenLoopback(sitesServer);
});
afterEach(async () => {
  await closeServer(sitesServer);
  await host.close();
});

const KEY = "c".repeat(24);
/** `n` different sites as a person types them: bare (development mode: http) and as URLs, in turn. */
const typed = (n: number) => Array.from({ length: n }, (_, i) => (i % 2 ? `${sites}p${i}/` : `${new URL(sites).host}/p${i}/`));

async function composeAs(b: Browser, to: string) {
  const compose = await (await b.fetch(`${host.pmUrl}compose`)).text();
  return b.post(`${host.pmUrl}compose`, { csrf: Browser.csrf(compose), key: KEY, to, subject: "Party", content: "Come on Friday!" });
}

describe("the compose form takes at most MAX_RECIPIENTS (100) sites", () => {
  it("101 sites: refused next to the To field in a sentence naming the limit and how many, every value kept, nobody looked up, nothing sent", async () => {
    expect(MAX_RECIPIENTS).toBe(100);
    const b = new Browser();
    await b.signIn(host);
    const to = typed(101).join(", ");
    const res = await composeAs(b, to);
    expect(res.status).toBe(400);
    const page = await res.text();
    expect(page).toMatch(/<input id="to" name="to"[^>]* aria-describedby="to-hint to-error" aria-invalid="true"/);
    expect(page).toContain('<div class="field-error" id="to-error" role="alert"><p>A message goes to at most 100 people; this one names 101.</p></div>');
    expect(page).toContain(`value="${to}"`);
    expect(page).toContain('value="Party"');
    expect(page).toContain(">Come on Friday!</textarea>");
    expect(page).toContain(`name="key" value="${KEY}" data-draft="compose"`);
    expect(fetched).toEqual([]);
    expect(await host.pm.outbox()).toEqual([]);
  });

  it("the same site typed twice counts once: 100 sites, each also typed as a URL, are sent", async () => {
    const b = new Browser();
    await b.signIn(host);
    const bare = Array.from({ length: 100 }, (_, i) => `${new URL(sites).host}/p${i}/`);
    const res = await composeAs(b, [...bare, ...bare.map((s) => `http://${s}`)].join("\n"));
    expect(res.status).toBe(303);
    const [sent] = await host.pm.outbox();
    expect(sent?.deliveries).toHaveLength(100);
    expect(new Set(fetched).size).toBe(100);
  });

  it("101 sites among 202 entries: the sentence says 101", async () => {
    const b = new Browser();
    await b.signIn(host);
    const bare = Array.from({ length: 101 }, (_, i) => `${new URL(sites).host}/p${i}/`);
    const res = await composeAs(b, [...bare, ...bare.map((s) => `http://${s}`)].join(" "));
    expect(res.status).toBe(400);
    expect(await res.text()).toContain("<p>A message goes to at most 100 people; this one names 101.</p>");
    expect(fetched).toEqual([]);
  });
});
