/**
 * Issue 13: the Micropub endpoint of a DM profile (W3C Micropub §3.3 Create, §3.7 Query,
 * §3.8 Errors) on real loopback servers: alice's site, her pm server with its web inbox,
 * her IndieAuth server (which issues and checks the tokens); bob's site, whose page names a
 * pm endpoint that counts what reaches it; carol's site, which takes no private messages.
 * The request shapes are the apps' own: Quill's note form (`content`, `in-reply-to`,
 * `category[]`, `mp-syndicate-to[]`, `visibility`) and the JSON syntax micropub-helper and
 * Indigenous send. Every refusal stores nothing and sends nothing.
 */
import { createServer, type Server } from "node:http";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { closeServer, listenLoopback } from "@indiepm/test-support";
import { MICROPUB_LIMITS } from "../src/micropub/config.js";
import { micropubUrl } from "../src/micropub/profile.js";
import { startInboxHost, type InboxHost } from "./support.js";

let host: InboxHost;
let endpoint: string;
let token: string;
/** bob's site (names his pm endpoint) and that endpoint: every request either gets is counted. */
let bob: string;
let bobRequests: string[];
let bobSite: Server;
let bobPm: Server;
/** carol's site: no rel=pm. */
let carol: string;
let carolSite: Server;

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
  carolSite = createServer((_req, res) => {
    res.setHeader("content-type", "text/html; charset=utf-8");
    res.end("<!doctype html><title>Carol</title><h1>Carol's home page</h1>");
  });
  carol = await listenLoopback(carolSite);
  await host.pm.updateSettings(host.site, { addContacts: [bob] });
  endpoint = micropubUrl(host.pmUrl, host.pm.sites, host.site);
  token = host.auth.issueToken({ me: host.site, scope: "create" });
});
afterEach(async () => {
  await Promise.all([closeServer(bobSite), closeServer(bobPm), closeServer(carolSite)]);
  await host.close();
});

type Body = { form: [string, string][] } | { json: unknown } | { raw: string; type: string };

/** POSTs to the endpoint with `Authorization: Bearer` (`null`: no header). */
async function post(body: Body, bearer: string | null = token, url = endpoint): Promise<Response> {
  const headers: Record<string, string> = bearer === null ? {} : { authorization: `Bearer ${bearer}` };
  if ("form" in body) {
    return fetch(url, {
      method: "POST",
      headers: { ...headers, "content-type": "application/x-www-form-urlencoded;charset=UTF-8" },
      body: new URLSearchParams(body.form),
    });
  }
  if ("json" in body) return fetch(url, { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify(body.json) });
  return fetch(url, { method: "POST", headers: { ...headers, "content-type": body.type }, body: body.raw });
}

async function query(q: string, bearer: string | null = token): Promise<Response> {
  return fetch(`${endpoint}?q=${q}`, { headers: bearer === null ? {} : { authorization: `Bearer ${bearer}` } });
}

/** The one message alice's outbox holds, as sent. */
async function sentOne() {
  const out = await host.pm.outbox();
  expect(out).toHaveLength(1);
  return out[0]!;
}

describe("q=config and q=syndicate-to (Micropub §3.7): contacts are the destinations, visibility is private", () => {
  it("q=config lists visibility private, each contact as {uid: site URL, name}, and the queries it answers", async () => {
    const res = await query("config");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const config = await res.json();
    expect(config).toMatchObject({ visibility: ["private"], "syndicate-to": [{ uid: bob, name: new URL(bob).host }], q: ["config", "syndicate-to"] });
    expect(config["post-types"]).toEqual([expect.objectContaining({ type: "note" })]);
  });

  it("q=syndicate-to answers the destinations alone; a blocked contact is not one", async () => {
    await host.pm.updateSettings(host.site, { addContacts: [carol] });
    expect(await (await query("syndicate-to")).json()).toEqual({
      "syndicate-to": [
        { uid: bob, name: new URL(bob).host },
        { uid: carol, name: new URL(carol).host },
      ],
    });
    await host.pm.updateSettings(host.site, { block: [carol] });
    expect(await (await query("syndicate-to")).json()).toEqual({ "syndicate-to": [{ uid: bob, name: new URL(bob).host }] });
  });

  it.each([
    ["q=source", "source", 400, "invalid_request"],
    ["no q", "", 400, "invalid_request"],
  ])("%s is refused with invalid_request", async (_label, q, status, error) => {
    const res = await fetch(q ? `${endpoint}?q=${q}` : endpoint, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(status);
    expect((await res.json()).error).toBe(error);
  });

  it("a token in the query string is no token (only the header is read for a query)", async () => {
    const res = await fetch(`${endpoint}?q=config&access_token=${token}`);
    expect(res.status).toBe(401);
  });

  it("a query without a token is refused: 401 unauthorized, WWW-Authenticate Bearer", async () => {
    const res = await query("config", null);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect((await res.json()).error).toBe("unauthorized");
  });
});

/** A create the endpoint accepts: the request, then what alice's outbox must hold. */
interface Accepted {
  name: string;
  body: () => Body;
  to: () => string[];
  subject?: string;
  content: string;
  html?: string;
}

const accepted: Accepted[] = [
  {
    name: "Quill's note form: content, mp-syndicate-to[], visibility=private",
    body: () => ({
      form: [
        ["h", "entry"],
        ["content", "Lunch on Friday?"],
        ["mp-syndicate-to[]", bob],
        ["visibility", "private"],
      ],
    }),
    to: () => [bob],
    content: "Lunch on Friday?",
  },
  {
    name: "Quill's note form: a person tag in category[] (a plain tag names nobody), mp-slug and location ignored",
    body: () => ({
      form: [
        ["h", "entry"],
        ["content", "Tagged you"],
        ["category[]", "lunch"],
        ["category[]", bob],
        ["mp-slug", "x"],
        ["location", "geo:1,2"],
      ],
    }),
    to: () => [bob],
    content: "Tagged you",
  },
  {
    name: "form: a bare host as a person tag is not a URL, the contact's uid in mp-syndicate-to is",
    body: () => ({
      form: [
        ["h", "entry"],
        ["content", "Hi"],
        ["category", "bob"],
        ["mp-syndicate-to", bob],
      ],
    }),
    to: () => [bob],
    content: "Hi",
  },
  {
    name: "form: access_token in the body instead of the header (Micropub §5.2 of RFC 6750)",
    body: () => ({
      form: [
        ["h", "entry"],
        ["content", "From the form"],
        ["mp-syndicate-to[]", bob],
        ["access_token", token],
      ],
    }),
    to: () => [bob],
    content: "From the form",
  },
  {
    name: "form: content[html] (Quill's editor) and the older syndicate-to[] name",
    body: () => ({
      form: [
        ["h", "entry"],
        ["content[html]", "<p>Hi <em>there</em></p>"],
        ["syndicate-to[]", bob],
      ],
    }),
    to: () => [bob],
    content: "Hi there",
    html: "<p>Hi <em>there</em></p>",
  },
  {
    name: "JSON: content {value, html} keeps the app's own text",
    body: () => ({ json: { type: ["h-entry"], properties: { content: [{ value: "Plain words", html: "<p>Rich words</p>" }], "mp-syndicate-to": [bob] } } }),
    to: () => [bob],
    content: "Plain words",
    html: "<p>Rich words</p>",
  },
  {
    name: "JSON: name is the subject, mp-syndicate-to the recipients, visibility private",
    body: () => ({
      json: { type: ["h-entry"], properties: { name: ["Lunch"], content: ["Friday at noon?"], "mp-syndicate-to": [bob], visibility: ["private"] } },
    }),
    to: () => [bob],
    subject: "Lunch",
    content: "Friday at noon?",
  },
  {
    name: "JSON: content {html} is the formatted version, its text the message",
    body: () => ({ json: { type: ["h-entry"], properties: { content: [{ html: "<p>Hi <b>Bob</b> &amp; co</p><p>Second</p>" }], audience: [bob] } } }),
    to: () => [bob],
    content: "Hi Bob & co\nSecond",
    html: "<p>Hi <b>Bob</b> &amp; co</p><p>Second</p>",
  },
  {
    name: "JSON: a person tag as an h-card in category",
    body: () => ({
      json: { type: ["h-entry"], properties: { content: ["hello"], category: [{ type: ["h-card"], properties: { name: ["Bob"], url: [bob] } }] } },
    }),
    to: () => [bob],
    content: "hello",
  },
];

describe("create h=entry (Micropub §3.3): a private message, sent as the web compose sends one", () => {
  it.each(accepted)("$name", async (row) => {
    const res = await post(row.body(), row.name.includes("access_token in the body") ? null : token);
    expect(res.status, await res.clone().text()).toBe(201);
    const sent = await sentOne();
    expect(sent.deliveries.map((d) => d.recipient)).toEqual(row.to());
    expect(sent.content).toBe(row.content);
    expect(sent.name).toBe(row.subject);
    expect(sent.contentHtml).toBe(row.html);
    expect(sent.sender).toBe(host.site);
    // Location: the message's thread in the sender's web inbox, absolute.
    const location = res.headers.get("location")!;
    expect(location).toMatch(new RegExp(`^${host.pmUrl}c/[A-Za-z0-9_-]+$`));
    const thread = await host.pm.thread(location.slice(`${host.pmUrl}c/`.length));
    expect(thread?.items.map((i) => i.message)).toEqual([sent.message]);
  });

  it("in-reply-to a message alice sent (its ID) goes to that message's people, Re: its subject, in its thread", async () => {
    const first = await post({ json: { type: ["h-entry"], properties: { name: ["Lunch"], content: ["Friday?"], "mp-syndicate-to": [bob] } } });
    expect(first.status).toBe(201);
    const [original] = await host.pm.outbox();
    const res = await post({
      form: [
        ["h", "entry"],
        ["content", "Or Saturday?"],
        ["in-reply-to", original!.message],
      ],
    });
    expect(res.status, await res.clone().text()).toBe(201);
    expect(res.headers.get("location")).toBe(first.headers.get("location"));
    const reply = (await host.pm.outbox()).find((m) => m.message !== original!.message)!;
    expect(reply).toMatchObject({ inReplyTo: original!.message, name: "Re: Lunch", content: "Or Saturday?" });
    expect(reply.deliveries.map((d) => d.recipient)).toEqual([bob]);
  });

  it("in-reply-to the thread's URL in the web inbox answers its latest message", async () => {
    const first = await post({
      form: [
        ["h", "entry"],
        ["content", "One"],
        ["mp-syndicate-to[]", bob],
      ],
    });
    const thread = first.headers.get("location")!;
    const res = await post({ json: { type: ["h-entry"], properties: { content: ["Two"], "in-reply-to": [thread] } } });
    expect(res.status, await res.clone().text()).toBe(201);
    expect(res.headers.get("location")).toBe(thread);
    const items = (await host.pm.thread(thread.slice(`${host.pmUrl}c/`.length)))!.items;
    expect(items.map((i) => i.content)).toEqual(["One", "Two"]);
    expect(items[1]!.inReplyTo).toBe(items[0]!.message);
  });
});

/** A request refused: its status, Micropub error and a sentence; nothing stored, nothing sent. */
interface Refusal {
  name: string;
  request: () => Promise<Response>;
  status: number;
  error: string;
  says: RegExp;
}

const quill = (extra: [string, string][] = [["mp-syndicate-to[]", "BOB"]]): Body => ({
  form: [["h", "entry"], ["content", "hello"], ...extra.map(([k, v]) => [k, v === "BOB" ? bob : v] as [string, string])],
});

const refusals: Refusal[] = [
  { name: "no token", request: () => post(quill(), null), status: 401, error: "unauthorized", says: /token/i },
  {
    name: "a token its token endpoint does not know",
    request: () => post(quill(), "not-a-token-0123456789"),
    status: 401,
    error: "unauthorized",
    says: /token/i,
  },
  {
    name: "a token for another me",
    request: () => post(quill(), host.auth.issueToken({ me: "http://127.0.0.1:1/", scope: "create" })),
    status: 403,
    error: "forbidden",
    says: /./,
  },
  {
    name: "a token without the create scope",
    request: () => post(quill(), host.auth.issueToken({ me: host.site, scope: "profile" })),
    status: 403,
    error: "insufficient_scope",
    says: /create/,
  },
  {
    name: "the token both in the header and in access_token",
    request: () =>
      post(
        quill([
          ["mp-syndicate-to[]", "BOB"],
          ["access_token", "x"],
        ]),
      ),
    status: 400,
    error: "invalid_request",
    says: /once/,
  },
  {
    name: "visibility=public",
    request: () =>
      post(
        quill([
          ["mp-syndicate-to[]", "BOB"],
          ["visibility", "public"],
        ]),
      ),
    status: 400,
    error: "invalid_request",
    says: /private.*Nothing was published/,
  },
  {
    name: "JSON visibility unlisted",
    request: () => post({ json: { type: ["h-entry"], properties: { content: ["x"], "mp-syndicate-to": [bob], visibility: ["unlisted"] } } }),
    status: 400,
    error: "invalid_request",
    says: /private/,
  },
  {
    name: "h=event",
    request: () =>
      post({
        form: [
          ["h", "event"],
          ["name", "Party"],
          ["mp-syndicate-to[]", bob],
        ],
      }),
    status: 400,
    error: "invalid_request",
    says: /h-entry/,
  },
  {
    name: "action=update (form)",
    request: () =>
      post({
        form: [
          ["action", "update"],
          ["url", "http://127.0.0.1:1/messages/1"],
        ],
      }),
    status: 400,
    error: "invalid_request",
    says: /cannot be changed/,
  },
  {
    name: "action=delete (JSON)",
    request: () => post({ json: { action: "delete", url: "http://127.0.0.1:1/messages/1" } }),
    status: 400,
    error: "invalid_request",
    says: /cannot be changed/,
  },
  {
    name: "nobody named",
    request: () => post(quill([["category[]", "lunch"]])),
    status: 400,
    error: "invalid_request",
    says: /Nobody to send this to.*Nothing was sent/,
  },
  {
    name: "500 recipients",
    request: () =>
      post({ json: { type: ["h-entry"], properties: { content: ["hi all"], audience: Array.from({ length: 500 }, (_, i) => `http://127.0.0.1:1/p${i}/`) } } }),
    status: 400,
    error: "invalid_request",
    says: new RegExp(`at most ${MICROPUB_LIMITS.maxRecipients} people; this one names 500`),
  },
  {
    name: "a syndicate-to uid that is not a contact",
    request: () => post(quill([["mp-syndicate-to[]", "http://127.0.0.1:1/"]])),
    status: 400,
    error: "invalid_request",
    says: /not one of the destinations/,
  },
  {
    name: "a recipient whose site names no pm endpoint",
    request: () => post(quill([["category[]", carol]])),
    status: 400,
    error: "invalid_request",
    says: /does not take private messages.*Nothing was sent/,
  },
  {
    name: "a person tag that is not a site address",
    request: () => post(quill([["category[]", "http://bob/"]])),
    status: 400,
    error: "invalid_request",
    says: /not a site address/,
  },
  {
    name: "in-reply-to a message this server does not hold",
    request: () => post(quill([["in-reply-to", "http://127.0.0.1:1/messages/unknown"]])),
    status: 400,
    error: "invalid_request",
    says: /names no message in your inbox/,
  },
  {
    name: "an empty content",
    request: () =>
      post({
        form: [
          ["h", "entry"],
          ["content", "  "],
          ["mp-syndicate-to[]", bob],
        ],
      }),
    status: 400,
    error: "invalid_request",
    says: /empty/,
  },
  {
    name: "a photo",
    request: () =>
      post(
        quill([
          ["mp-syndicate-to[]", "BOB"],
          ["photo", "http://127.0.0.1:1/a.jpg"],
        ]),
      ),
    status: 400,
    error: "invalid_request",
    says: /text only/,
  },
  {
    name: "multipart (Quill with a photo and no media endpoint)",
    request: () => post({ raw: "--x--\r\n", type: "multipart/form-data; boundary=x" }),
    status: 415,
    error: "invalid_request",
    says: /text/,
  },
  { name: "text/plain", request: () => post({ raw: "hello", type: "text/plain" }), status: 415, error: "invalid_request", says: /form|JSON/ },
  { name: "JSON that does not parse", request: () => post({ raw: "{", type: "application/json" }), status: 400, error: "invalid_request", says: /JSON/ },
  {
    name: "content over 64 KiB",
    request: () =>
      post({
        form: [
          ["h", "entry"],
          ["content", "x".repeat(64 * 1024 + 1)],
          ["mp-syndicate-to[]", bob],
        ],
      }),
    status: 400,
    error: "invalid_request",
    says: /too long/,
  },
  {
    name: "a body over the limit (413)",
    request: () =>
      post({ raw: JSON.stringify({ type: ["h-entry"], properties: { content: ["x".repeat(MICROPUB_LIMITS.maxBodyBytes)] } }), type: "application/json" }),
    status: 413,
    error: "invalid_request",
    says: /too large/,
  },
  {
    name: "a profile this server does not hold",
    request: () => post(quill(), token, new URL("../nobody-here/micropub", endpoint).href),
    status: 404,
    error: "not_found",
    says: /no Micropub endpoint/,
  },
];

describe("refusals (Micropub §3.8): the error, a sentence, and nothing stored or sent", () => {
  it.each(refusals)("$name → $status $error", async (row) => {
    const res = await row.request();
    expect(res.status).toBe(row.status);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    const body = await res.json();
    expect(body.error).toBe(row.error);
    expect(body.error_description).toMatch(row.says);
    await host.pm.idle();
    expect(await host.pm.outbox()).toEqual([]);
    expect(bobRequests).toEqual([]);
  });

  it("a body over the limit is not read past it: 413 after at most the limit and one chunk", async () => {
    let pulled = 0;
    const chunk = new Uint8Array(16 * 1024).fill(0x61);
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += chunk.byteLength;
        if (pulled > 8 * 1024 * 1024) controller.close();
        else controller.enqueue(chunk);
      },
    });
    const request = new Request(endpoint, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body,
      duplex: "half",
    } as RequestInit);
    const res = await host.inbox.handle(request, { clientAddress: "127.0.0.1" });
    expect(res.status).toBe(413);
    expect((await res.json()).error).toBe("invalid_request");
    expect(pulled).toBeLessThanOrEqual(MICROPUB_LIMITS.maxBodyBytes + 3 * chunk.byteLength);
    expect(await host.pm.outbox()).toEqual([]);
  });

  it("a declared Content-Length over the limit is refused before anything is read", async () => {
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(1024));
      },
    });
    const request = new Request(endpoint, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "content-length": String(10 * 1024 * 1024) },
      body,
      duplex: "half",
    } as RequestInit);
    const res = await host.inbox.handle(request, { clientAddress: "127.0.0.1" });
    expect(res.status).toBe(413);
    expect(pulled).toBeLessThanOrEqual(1);
  });

  it("requests from one client address are limited before any token is checked: the next one is 429 with Retry-After", async () => {
    const asked = host.auth.tokenRequests;
    const one = () =>
      host.inbox.handle(new Request(`${endpoint}?q=config`, { headers: { authorization: "Bearer nope-nope-nope" } }), { clientAddress: "192.0.2.7" });
    for (let i = 0; i < MICROPUB_LIMITS.requestsPerClientPerMinute; i++) expect((await one()).status).toBe(401);
    const over = await one();
    expect(over.status).toBe(429);
    expect(Number(over.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await over.json()).error).toBe("rate_limited");
    // The refused token was asked about once (kept as refused), and the request over the limit asked nothing.
    expect(host.auth.tokenRequests - asked).toBeLessThanOrEqual(1);
    // Another client is not held by it.
    const other = await host.inbox.handle(new Request(`${endpoint}?q=config`, { headers: { authorization: `Bearer ${token}` } }), {
      clientAddress: "192.0.2.8",
    });
    expect(other.status).toBe(200);
  });

  it("posts of one site are limited per minute: the next one is 429 and not sent", async () => {
    for (let i = 0; i < MICROPUB_LIMITS.postsPerSitePerMinute; i++) {
      const res = await host.inbox.handle(
        new Request(endpoint, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/x-www-form-urlencoded" },
          body: `h=entry&content=n${i}&mp-syndicate-to[]=${encodeURIComponent(bob)}`,
        }),
        { clientAddress: `192.0.2.${i}` },
      );
      expect(res.status).toBe(201);
    }
    const over = await post(quill());
    expect(over.status).toBe(429);
    expect((await host.pm.outbox()).length).toBe(MICROPUB_LIMITS.postsPerSitePerMinute);
  });
});

describe("no cookie, no CSRF: the endpoint is for apps", () => {
  it("a signed-in browser's cookie is no token", async () => {
    const res = await fetch(endpoint, {
      method: "POST",
      headers: { cookie: "indiepm_session=x", "content-type": "application/x-www-form-urlencoded" },
      body: "h=entry&content=hi",
    });
    expect(res.status).toBe(401);
  });
});
