/**
 * Issue 13, read as an attacker and as a second implementer would: the Micropub endpoint
 * of a DM profile against requests no app sends (HTML and JSON built to cost the server,
 * rotating client addresses) and against what the spec and the apps do that the first
 * tests did not try (no `h`, Quill's `post-status=draft`). Real loopback servers as in
 * micropub.test.ts: alice's site, pm server and IndieAuth; bob's site, whose pm endpoint
 * counts what reaches it.
 */
import { createServer, type Server } from "node:http";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { closeServer, listenLoopback } from "@indiepm/test-support";
import { MICROPUB_LIMITS } from "../src/micropub/config.js";
import { textOfHtml } from "../src/micropub/post.js";
import { micropubUrl } from "../src/micropub/profile.js";
import { conversationId } from "@indiepm/core";
import { startInboxHost, startSharedHost, type InboxHost } from "./support.js";

let host: InboxHost;
let endpoint: string;
let token: string;
let bob: string;
let bobRequests: string[];
let bobSite: Server;
let bobPm: Server;

beforeEach(async () => {
  host = await startInboxHost();
  bobRequests = [];
  bobPm = createServer((req, res) => {
    bobRequests.push(`pm ${req.method} ${req.url}`);
    res.writeHead(503, { "retry-after": "3600" }).end();
  });
  const bobPmUrl = await listenLoopback(bobPm);
  bobSite = createServer((req, res) => {
    bobRequests.push(`site ${req.method} ${req.url}`);
    res.setHeader("content-type", "text/html; charset=utf-8");
    res.end(`<!doctype html><title>Bob</title><link rel="pm" href="${bobPmUrl}"><h1>Bob</h1>`);
  });
  bob = await listenLoopback(bobSite);
  await host.pm.updateSettings(host.site, { addContacts: [bob] });
  endpoint = micropubUrl(host.pmUrl, host.pm.sites, host.site);
  token = host.auth.issueToken({ me: host.site, scope: "create" });
});
afterEach(async () => {
  await Promise.all([closeServer(bobSite), closeServer(bobPm)]);
  await host.close();
});

/** A POST through the inbox's handler, from `clientAddress`. */
function post(type: string, body: string, bearer: string | null = token, clientAddress = "127.0.0.1"): Promise<Response> {
  const headers: Record<string, string> = { "content-type": type, ...(bearer === null ? {} : { authorization: `Bearer ${bearer}` }) };
  return host.inbox.handle(new Request(endpoint, { method: "POST", headers, body }), { clientAddress });
}
const json = (doc: unknown, bearer: string | null = token) => post("application/json", JSON.stringify(doc), bearer);
const form = (fields: [string, string][], bearer: string | null = token) =>
  post("application/x-www-form-urlencoded", new URLSearchParams(fields).toString(), bearer);

async function nothingSent(): Promise<void> {
  await host.pm.idle();
  expect(await host.pm.outbox()).toEqual([]);
  expect(bobRequests).toEqual([]);
}

describe("bodies built to cost the server are answered at once, before and after the token check", () => {
  // Each is read before the token is checked (the token may be in a form's access_token).
  const costly: [string, string][] = [
    ["a run of “<” with no “>”", "<".repeat(200_000)],
    ["a run of spaces with no line end", `${" ".repeat(200_000)}x`],
    ["“<script” after “<script” with no end tag", "<script ".repeat(25_000)],
  ];

  it.each(costly)("the text of HTML that is %s is read in linear time", (_label, html) => {
    const started = performance.now();
    textOfHtml(html);
    // Quadratic, each of these takes tens of seconds; read once, a few milliseconds.
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it("the text of HTML keeps what it kept: tags go, block ends break lines, script and style go, entities decoded", () => {
    expect(textOfHtml("<p>Hi <b>Bob</b> &amp; co</p>  \n<p>Second</p><script>x()</script><style>p{}</style><br>a < b")).toBe("Hi Bob & co\n\nSecond\n\na < b");
    expect(textOfHtml("<p>one <script>never</SCRIPT >two</p><script>open")).toBe("one two\nopen");
  });

  it("a JSON content {html} made of “<” without a token: 401 at once", async () => {
    const started = performance.now();
    const res = await json({ type: ["h-entry"], properties: { content: [{ html: "<".repeat(200_000) }], "mp-syndicate-to": [bob] } }, null);
    expect(res.status).toBe(401);
    expect(performance.now() - started).toBeLessThan(5_000);
    await nothingSent();
  });

  const deep = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
  const nested: [string, string][] = [
    ["type", `{"type":[${deep(20_000)}]}`],
    ["action", `{"action":${deep(20_000)}}`],
    ["visibility", `{"type":["h-entry"],"properties":{"content":["hi"],"visibility":[${deep(20_000)}]}}`],
    [
      "an h-card in category",
      `{"type":["h-entry"],"properties":{"content":["hi"],"category":[${'{"properties":{"url":['.repeat(9_000)}${"]}}".repeat(9_000)}]}}`,
    ],
  ];

  it.each(nested)("JSON nested 10,000s deep in %s: 401 without a token, 400 invalid_request with one, never a 500", async (_label, body) => {
    expect(body.length).toBeLessThan(MICROPUB_LIMITS.maxBodyBytes);
    const anonymous = await post("application/json", body, null);
    expect(anonymous.status).toBe(401);
    const res = await post("application/json", body);
    expect(res.status).toBe(400);
    expect((await res.json()).error).toBe("invalid_request");
    await nothingSent();
  });
});

describe("requests are counted per client as the inbox's other limits count them", () => {
  it("addresses of one IPv6 /64 share one limit: the request past it is 429, asking the token endpoint nothing", async () => {
    const asked = host.auth.tokenRequests;
    const one = (n: number) =>
      host.inbox.handle(new Request(`${endpoint}?q=config`, { headers: { authorization: `Bearer fresh-token-${n}` } }), {
        clientAddress: `2001:db8:1:2::${n.toString(16)}`,
      });
    for (let n = 1; n <= MICROPUB_LIMITS.requestsPerClientPerMinute; n++) expect((await one(n)).status).toBe(401);
    const over = await one(0xffff);
    expect(over.status).toBe(429);
    expect((await over.json()).error).toBe("rate_limited");
    expect(host.auth.tokenRequests - asked).toBe(MICROPUB_LIMITS.requestsPerClientPerMinute);
    // Another /64 is not held by it.
    const other = await host.inbox.handle(new Request(`${endpoint}?q=config`, { headers: { authorization: `Bearer ${token}` } }), {
      clientAddress: "2001:db8:1:3::1",
    });
    expect(other.status).toBe(200);
  });

  it("requests whose client address is unknown share one limit too", async () => {
    const one = () => host.inbox.handle(new Request(`${endpoint}?q=config`, { headers: { authorization: "Bearer nope-nope-nope" } }), {});
    for (let n = 0; n < MICROPUB_LIMITS.requestsPerClientPerMinute; n++) expect((await one()).status).toBe(401);
    expect((await one()).status).toBe(429);
  });
});

describe("what the spec and the apps send that the first tests did not", () => {
  it("a form without h creates an h-entry (Micropub §3.3: “If no type is specified, the default type h-entry SHOULD be used”)", async () => {
    const res = await form([
      ["content", "No h here"],
      ["mp-syndicate-to[]", bob],
    ]);
    expect(res.status, await res.clone().text()).toBe(201);
    const [sent] = await host.pm.outbox();
    expect(sent?.content).toBe("No h here");
    expect(sent?.deliveries.map((d) => d.recipient)).toEqual([bob]);
  });

  it("a JSON post without type creates an h-entry too", async () => {
    const res = await json({ properties: { content: ["No type here"], "mp-syndicate-to": [bob] } });
    expect(res.status, await res.clone().text()).toBe(201);
    expect((await host.pm.outbox())[0]).toMatchObject({ content: "No type here" });
  });

  it("h other than entry is still refused", async () => {
    const res = await form([
      ["h", "card"],
      ["content", "x"],
      ["mp-syndicate-to[]", bob],
    ]);
    expect(res.status).toBe(400);
    await nothingSent();
  });

  it.each([
    [
      "Quill's editor form: post-status=draft",
      () =>
        form([
          ["h", "entry"],
          ["name", "Plans"],
          ["content[html]", "<p>Not yet</p>"],
          ["mp-syndicate-to[]", bob],
          ["post-status", "draft"],
        ]),
    ],
    ["JSON: post-status [draft]", () => json({ type: ["h-entry"], properties: { content: ["Not yet"], "mp-syndicate-to": [bob], "post-status": ["draft"] } })],
  ])("%s is a draft, never sent: 400 invalid_request saying so", async (_label, request) => {
    const res = await request();
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.error).toBe("invalid_request");
    expect(body.error_description).toMatch(/draft.*Nothing was sent/i);
    await nothingSent();
  });

  it("post-status=published is sent", async () => {
    const res = await form([
      ["h", "entry"],
      ["content", "Now"],
      ["mp-syndicate-to[]", bob],
      ["post-status", "published"],
    ]);
    expect(res.status, await res.clone().text()).toBe(201);
  });
});

describe("judged fine on review, kept so", () => {
  it.each([
    ["the site over https when it is http", (site: string) => site.replace(/^http:/, "https:")],
    ["the site with a user name before its host", (site: string) => site.replace("://", "://alice@")],
    ["a page under the site", (site: string) => `${site}notes/`],
  ])("a token whose me is %s is for someone else: 403 forbidden, nothing sent", async (_label, me) => {
    const res = await form(
      [
        ["h", "entry"],
        ["content", "hi"],
        ["mp-syndicate-to[]", bob],
      ],
      host.auth.issueToken({ me: me(host.site), scope: "create" }),
    );
    expect(res.status).toBe(403);
    expect((await res.json()).error).toBe("forbidden");
    await nothingSent();
  });

  it.each([
    ["application/json; charset=utf-8", JSON.stringify({ type: ["h-entry"], properties: { content: ["é ✓"], "mp-syndicate-to": ["BOB"] } })],
    ["Application/JSON", JSON.stringify({ type: ["h-entry"], properties: { content: ["é ✓"], "mp-syndicate-to": ["BOB"] } })],
    ["application/x-www-form-urlencoded; charset=UTF-8", "h=entry&content=%C3%A9+%E2%9C%93&mp-syndicate-to=BOB"],
  ])("Content-Type %s is read, as UTF-8", async (type, body) => {
    const res = await post(type, body.replace("BOB", type.includes("form") ? encodeURIComponent(bob) : bob));
    expect(res.status, await res.clone().text()).toBe(201);
    expect((await host.pm.outbox())[0]?.content).toBe("é ✓");
  });

  it("visibility given twice, private and public, is refused", async () => {
    const res = await form([
      ["h", "entry"],
      ["content", "hi"],
      ["mp-syndicate-to[]", bob],
      ["visibility", "private"],
      ["visibility", "public"],
    ]);
    expect(res.status).toBe(400);
    await nothingSent();
  });
});

describe("two sites on one server (judged fine, kept so)", () => {
  it("alice cannot answer bob's thread or message: in-reply-to names no message of hers, nothing sent", async () => {
    const shared = await startSharedHost();
    try {
      const pmUrl = new URL("/", shared.pm.endpoint).href;
      const sent = await shared.pm.send({ from: shared.bob, to: [bob], content: "bob's own" });
      const thread = `${pmUrl}c/${conversationId(shared.bob, sent.message)}`;
      expect((await shared.pm.thread(conversationId(shared.bob, sent.message)))?.items).toHaveLength(1);
      const aliceEndpoint = micropubUrl(pmUrl, shared.pm.sites, shared.alice);
      const aliceToken = shared.aliceAuth.issueToken({ me: shared.alice, scope: "create" });
      for (const inReplyTo of [thread, sent.message]) {
        const res = await fetch(aliceEndpoint, {
          method: "POST",
          headers: { authorization: `Bearer ${aliceToken}`, "content-type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ h: "entry", content: "peek", "in-reply-to": inReplyTo }),
        });
        expect(res.status).toBe(400);
        expect((await res.json()).error_description).toMatch(/names no message in your inbox/);
      }
      expect((await shared.pm.outbox()).map((m) => m.sender)).toEqual([shared.bob]);
    } finally {
      await shared.close();
    }
  });
});
