/**
 * Sending from the web inbox as people do it (issue 12): recipients refused before the
 * message is accepted, next to the To field in plain words with every value kept; a
 * form's one-time key, so the same form posted twice sends once; and a sign-in that
 * returns to the page it interrupted, never anywhere else.
 */
import { createServer, type Server } from "node:http";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { closeServer, listenLoopback } from "@indiepm/test-support";
import { messageIdFor } from "../src/compose-keys.js";
import { returnPathOf, safeReturn } from "../src/return-to.js";
import { Browser, startInboxHost, type InboxHost } from "./support.js";

let host: InboxHost;
/** bob's site: a page that names no pm endpoint (he does not take private messages). */
let bobServer: Server;
let bob: string;
/** carol's site: it names a pm endpoint (whose server is not up: deliveries to her wait). */
let carolServer: Server;
let carol: string;
beforeEach(async () => {
  host = await startInboxHost();
  bobServer = createServer((_req, res) => {
    res.setHeader("content-type", "text/html; charset=utf-8");
    res.end("<!doctype html><title>Bob</title><h1>Bob's home page</h1>");
  });
  bob = await listenLoopback(bobServer);
  carolServer = createServer((_req, res) => {
    res.setHeader("content-type", "text/html; charset=utf-8");
    res.end('<!doctype html><title>Carol</title><link rel="pm" href="http://127.0.0.1:9/">');
  });
  carol = await listenLoopback(carolServer);
});
afterEach(async () => {
  await Promise.all([closeServer(bobServer), closeServer(carolServer)]);
  await host.close();
});

const KEY = "k".repeat(24);

/** The text a person reads of a page: no markup, and no `<details>` (the line for the curious). */
const readable = (page: string) =>
  page
    .replace(/<details[^>]*>[\s\S]*?<\/details>/g, "")
    .replace(/<[^>]+>/g, " ")
    .replace(/\s+/g, " ");

describe("recipients are checked before the message is accepted", () => {
  it("a site that names no pm endpoint is refused next to the To field, in plain words, with every value kept", async () => {
    const b = new Browser();
    await b.signIn(host);
    const compose = await (await b.fetch(`${host.pmUrl}compose`)).text();
    const res = await b.post(`${host.pmUrl}compose`, { csrf: Browser.csrf(compose), key: KEY, to: bob, subject: "Lunch?", content: "Shall we?" });
    expect(res.status).toBe(400);
    const page = await res.text();
    const label = new URL(bob).host;
    expect(page).toMatch(/<input id="to" name="to"[^>]* aria-describedby="to-hint to-error" aria-invalid="true"/);
    expect(page).toMatch(
      new RegExp(
        `<div class="field-error" id="to-error" role="alert"><p>${label.replace(/\./g, "\\.")} does not take private messages\\.</p><details class="tech"><summary>Details</summary><p><code>[^<]*rel=pm`,
      ),
    );
    // Every value kept, and the same one-time key.
    expect(page).toContain(`value="${bob}"`);
    expect(page).toContain('value="Lunch?"');
    expect(page).toContain(">Shall we?</textarea>");
    expect(page).toContain(`name="key" value="${KEY}" data-draft="compose"`);
    expect(readable(page)).not.toMatch(/§|invalid_token|forbidden|handshake|no_endpoint/);
    expect(await host.pm.outbox()).toEqual([]);
  });

  it("an entry that is not a site address is refused naming it: “bob” in 127.0.0.1:4003 bob", async () => {
    const b = new Browser();
    await b.signIn(host);
    const compose = await (await b.fetch(`${host.pmUrl}compose`)).text();
    const res = await b.post(`${host.pmUrl}compose`, { csrf: Browser.csrf(compose), to: `${new URL(host.site).host} bob`, content: "hi" });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/<div class="field-error" id="to-error" role="alert"><p>“bob” is not a site address: a site address is a domain name/);
    expect(await host.pm.outbox()).toEqual([]);
  });

  it("a vouch page the engine cannot use is said in plain words, the values kept", async () => {
    const b = new Browser();
    await b.signIn(host);
    const compose = await (await b.fetch(`${host.pmUrl}compose`)).text();
    const res = await b.post(`${host.pmUrl}compose`, { csrf: Browser.csrf(compose), to: carol, content: "hi", vouch: "not a page" });
    expect(res.status).toBe(400);
    const page = await res.text();
    expect(page).toContain("The vouch page cannot be used: write its whole address, starting with https://.");
    expect(page).toContain('value="not a page"');
    expect(await host.pm.outbox()).toEqual([]);
  });

  it("a site that cannot be reached now is accepted, and the page says it will be tried again", async () => {
    const b = new Browser();
    await b.signIn(host);
    const compose = await (await b.fetch(`${host.pmUrl}compose`)).text();
    const res = await b.post(`${host.pmUrl}compose`, { csrf: Browser.csrf(compose), to: "http://127.0.0.1:9/", content: "hi" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toMatch(/\?notice=sent-retrying$/);
    const thread = await (await b.fetch(new URL(res.headers.get("location")!, host.pmUrl).href)).text();
    expect(thread).toContain("A recipient could not be reached just now; it will be tried again.");
  });
});

describe("one-time compose keys: the same form posted twice sends once", () => {
  it("a second post of the form (Back, then Send again) goes to the message already sent", async () => {
    const b = new Browser();
    await b.signIn(host);
    const compose = await (await b.fetch(`${host.pmUrl}compose`)).text();
    const key = /name="key" value="([A-Za-z0-9_-]+)"/.exec(compose)?.[1];
    expect(key).toMatch(/^[A-Za-z0-9_-]{24}$/);
    const fields = { csrf: Browser.csrf(compose), key: key!, to: carol, content: "Only once, please" };
    const first = await b.post(`${host.pmUrl}compose`, fields);
    expect(first.status).toBe(303);
    expect(first.headers.get("location")).toMatch(/\?notice=sent$/);
    const again = await b.post(`${host.pmUrl}compose`, fields);
    expect(again.status).toBe(303);
    expect(again.headers.get("location")).toBe(first.headers.get("location")!.replace("notice=sent", "notice=already-sent"));
    expect((await host.pm.outbox()).map((m) => m.content)).toEqual(["Only once, please"]);
    // Another form (another key) is another message.
    const next = await b.post(`${host.pmUrl}compose`, { ...fields, key: "n".repeat(24) });
    expect(next.status).toBe(303);
    expect(await host.pm.outbox()).toHaveLength(2);
  });

  it("two posts of the same form at once (a double click) make one message", async () => {
    const b = new Browser();
    await b.signIn(host);
    const compose = await (await b.fetch(`${host.pmUrl}compose`)).text();
    const fields = { csrf: Browser.csrf(compose), key: KEY, to: carol, content: "Double click" };
    const answers = await Promise.all([b.post(`${host.pmUrl}compose`, fields), b.post(`${host.pmUrl}compose`, fields)]);
    expect(answers.map((a) => a.status)).toEqual([303, 303]);
    expect(new Set(answers.map((a) => a.headers.get("location")!.replace(/\?.*$/, ""))).size).toBe(1);
    expect(await host.pm.outbox()).toHaveLength(1);
  });

  it("a reply form posted twice sends one reply", async () => {
    const b = new Browser();
    await b.signIn(host);
    const compose = await (await b.fetch(`${host.pmUrl}compose`)).text();
    const sent = await b.post(`${host.pmUrl}compose`, { csrf: Browser.csrf(compose), key: KEY, to: carol, content: "To carol" });
    const thread = await (await b.fetch(new URL(sent.headers.get("location")!, host.pmUrl).href)).text();
    expect(thread).toMatch(/<form class="reply card" method="post" action="\/c\/[A-Za-z0-9_-]+\/reply">/);
    expect(thread).toMatch(/<input type="hidden" name="key" value="[A-Za-z0-9_-]{24}" data-draft="reply [A-Za-z0-9_-]+">/);
    const action = /<form class="reply card" method="post" action="([^"]+)"/.exec(thread)![1]!;
    const replyKey = /<form class="reply card"[\s\S]*?name="key" value="([^"]+)"/.exec(thread)![1]!;
    const fields = { csrf: Browser.csrf(thread), key: replyKey, content: "A reply, once" };
    expect((await b.post(new URL(action, host.pmUrl).href, fields)).headers.get("location")).toMatch(/\?notice=sent$/);
    expect((await b.post(new URL(action, host.pmUrl).href, fields)).headers.get("location")).toMatch(/\?notice=already-sent$/);
    expect((await host.pm.outbox()).filter((m) => m.content === "A reply, once")).toHaveLength(1);
  });

  it("a person page's reply form posted twice sends one reply", async () => {
    const b = new Browser();
    await b.signIn(host);
    const compose = await (await b.fetch(`${host.pmUrl}compose`)).text();
    await b.post(`${host.pmUrl}compose`, { csrf: Browser.csrf(compose), key: KEY, to: carol, content: "To carol" });
    const list = await (await b.fetch(host.pmUrl)).text();
    const person = /href="(\/p\/[A-Za-z0-9_-]+)#latest"/.exec(list)![1]!;
    const chat = await (await b.fetch(new URL(person, host.pmUrl).href)).text();
    expect(chat).toMatch(/<input type="hidden" name="key" value="[A-Za-z0-9_-]{24}" data-draft="reply p [A-Za-z0-9_-]+">/);
    const replyKey = /<form class="reply card"[\s\S]*?name="key" value="([^"]+)"/.exec(chat)![1]!;
    const fields = { csrf: Browser.csrf(chat), key: replyKey, content: "From the person page, once" };
    expect((await b.post(`${host.pmUrl}${person.slice(1)}/reply`, fields)).headers.get("location")).toMatch(/\?notice=sent#latest$/);
    expect((await b.post(`${host.pmUrl}${person.slice(1)}/reply`, fields)).headers.get("location")).toMatch(/\?notice=already-sent#latest$/);
    expect((await host.pm.outbox()).filter((m) => m.content === "From the person page, once")).toHaveLength(1);
  });

  it("the message ID is bound to the session: the same key in another session is another ID", () => {
    const a = messageIdFor(host.pmUrl, "csrf-of-one-session-0123456789", KEY);
    expect(a).toMatch(new RegExp(`^${host.pmUrl}messages/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`));
    expect(messageIdFor(host.pmUrl, "csrf-of-one-session-0123456789", KEY)).toBe(a);
    expect(messageIdFor(host.pmUrl, "csrf-of-another-session-987654", KEY)).not.toBe(a);
    expect(messageIdFor(host.pmUrl, "csrf-of-one-session-0123456789", "short")).toBeUndefined();
  });
});

describe("sign-in returns to the page it interrupted", () => {
  /** Signs in from the page `start` (the sign-in form it shows), and answers where the callback sends the browser. */
  async function signInFrom(b: Browser, start: string): Promise<string> {
    const form = await (await b.fetch(new URL(start, host.pmUrl).href)).text();
    const returnField = /name="return" value="([^"]*)"/.exec(form)?.[1];
    const started = await b.post(`${host.pmUrl}signin`, {
      csrf: Browser.csrf(form),
      me: host.site,
      ...(returnField === undefined ? {} : { return: returnField.replace(/&amp;/g, "&") }),
    });
    const authUrl = /http-equiv="refresh" content="0;url=([^"]+)"/.exec(await started.text())![1]!.replace(/&amp;/g, "&");
    const approve = await (await b.fetch(authUrl)).text();
    const fields = Object.fromEntries(
      [...approve.matchAll(/<input type="(?:hidden|radio)" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!.replace(/&amp;/g, "&")]),
    );
    const back = await b.post(`${host.auth.url}auth/approve`, { ...fields, me: host.site, decision: "approve" }, { from: host.auth.url.replace(/\/$/, "") });
    const done = await b.fetch(back.headers.get("location")!);
    expect(done.status).toBe(303);
    return done.headers.get("location")!;
  }

  it("a reply posted after the session ended: not sent, and after sign-in the owner is back on the thread", async () => {
    const b = new Browser();
    const res = await b.post(`${host.pmUrl}c/abc123/reply`, { csrf: "x", content: "typed while away" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/?notice=expired&return=c%2Fabc123");
    expect(await host.pm.outbox()).toEqual([]);
    const signInPage = await (await b.fetch(new URL(res.headers.get("location")!, host.pmUrl).href)).text();
    expect(signInPage).toContain("Your session ended");
    expect(await signInFrom(b, res.headers.get("location")!)).toBe("/c/abc123");
  });

  it("a page opened without a session comes back after sign-in (its query kept)", async () => {
    const b = new Browser();
    const res = await b.fetch(`${host.pmUrl}compose?to=bob.example.com`);
    expect(res.headers.get("location")).toBe("/?return=compose%3Fto%3Dbob.example.com");
    expect(await signInFrom(b, res.headers.get("location")!)).toBe("/compose?to=bob.example.com");
  });

  it.each(["//evil.example/", "https://evil.example/", "/\\evil.example", "c/../../x", "c//evil.example", "\\\\evil.example"])(
    "a return of %j is not taken: the sign-in ends on the inbox",
    async (value) => {
      expect(safeReturn(value)).toBeUndefined();
      const b = new Browser();
      expect(await signInFrom(b, `/?return=${encodeURIComponent(value)}`)).toBe("/");
    },
  );

  it("a return posted in the sign-in form itself is checked the same way", async () => {
    const b = new Browser();
    const form = await (await b.fetch(host.pmUrl)).text();
    const started = await b.post(`${host.pmUrl}signin`, { csrf: Browser.csrf(form), me: host.site, return: "//evil.example/" });
    expect(started.status).toBe(200);
    // Nothing of it is kept: the callback of this sign-in goes to the inbox (shown above); a fresh form has no return field.
    expect(await (await b.fetch(host.pmUrl)).text()).not.toContain('name="return"');
  });

  it("returnPathOf: a form's page for a POST, the page itself for a GET, nothing for JSON or the inbox", () => {
    const q = new URLSearchParams();
    expect(returnPathOf("POST", "/c/AbC_9/reply", q)).toBe("c/AbC_9");
    expect(returnPathOf("POST", "/p/AbC_9/reply", q)).toBe("p/AbC_9");
    expect(returnPathOf("POST", "/compose", q)).toBe("compose");
    expect(returnPathOf("POST", "/settings/webhook", q)).toBe("settings");
    expect(returnPathOf("POST", "/m/read", q)).toBeUndefined();
    expect(returnPathOf("GET", "/c/AbC_9", q)).toBe("c/AbC_9");
    expect(returnPathOf("GET", "/status.json", q)).toBeUndefined();
    expect(returnPathOf("GET", "/", q)).toBeUndefined();
  });
});
