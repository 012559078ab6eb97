/**
 * Issue 13 through the Express middleware, as a site owner installs it: alice's pm server is
 * an Express 5 app mounting `indiepm()` and `indiepmInbox()` (@indiepm/express), the inbox
 * under `/inbox/` (as the demo's bob has it) or at the root (the endpoint then under
 * `/pm/`), with and without the app-wide body parsers real apps register first
 * (`express.json()`, `express.urlencoded()`, `express.text()`). Over real loopback servers:
 * the DM profile pages name addresses under the mount; micropub-helper 1.6.2 discovers,
 * gets a token at alice's IndieAuth (the dev server, `legacyClients`), reads `q=config` and
 * creates a JSON and a form post that arrive at bob's; a body over the limit gets Micropub's
 * JSON error; the Microsub Settings authorization comes back under the mount.
 */
import express from "express";
import Micropub from "micropub-helper";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { indiepm, indiepmInbox, type IndiePmInboxRouter } from "@indiepm/express";
import { startDevAuthorizationServer, startMicrosubReceiver, type DevAuthorizationServer, type MicrosubReceiver } from "@indiepm/test-support";
import { fourHosts, OWNER_TOKEN, quietLogger, waitFor, type FourHosts } from "../harness/hosts.js";

interface Mounting {
  name: string;
  /** Where the inbox is mounted: "/inbox" or "/". */
  inboxAt: "/inbox" | "/";
  /**
   * The app's body parsers, registered app-wide before anything of indiepm, or after it (as
   * the README asks); "extended": `express.urlencoded({ extended: true })` first.
   */
  parsers: "first" | "after" | "extended";
}

const mountings: Mounting[] = [
  { name: "the inbox under /inbox/, the app's body parsers after it", inboxAt: "/inbox", parsers: "after" },
  { name: "the inbox under /inbox/, express.json/urlencoded/text app-wide first", inboxAt: "/inbox", parsers: "first" },
  { name: "the inbox at the root (the endpoint under /pm/), the app's body parsers after it", inboxAt: "/", parsers: "after" },
  { name: "the inbox at the root (the endpoint under /pm/), express.json/urlencoded/text app-wide first", inboxAt: "/", parsers: "first" },
  { name: "the inbox under /inbox/, express.json() and express.urlencoded({ extended: true }) app-wide first", inboxAt: "/inbox", parsers: "extended" },
];

/** The app: a client_id and redirect_uri on loopback (the dev server never fetches them). */
const app = { clientId: "http://127.0.0.1:9/app/", redirectUri: "http://127.0.0.1:9/app/callback" };

describe.each(mountings)("$name", ({ inboxAt, parsers }) => {
  let hosts: FourHosts;
  let auth: DevAuthorizationServer;
  let inbox: IndiePmInboxRouter;
  let alice: string;
  let bob: string;
  /** alice's web inbox as the world sees it. */
  let inboxUrl: string;
  const warnings: string[] = [];

  beforeEach(async () => {
    warnings.length = 0;
    const logger = { ...quietLogger, warn: (message: string) => void warnings.push(message) };
    // At the root, the inbox takes every path but the endpoint's: the endpoint moves to /pm/.
    hosts = await fourHosts({ alice: inboxAt === "/" ? (urls) => ({ endpoint: `${urls.alicePm}pm/` }) : {} });
    alice = hosts.alice.site.url;
    bob = hosts.bob.site.url;
    hosts.alice.site.endpoint = hosts.alice.pm.pm.endpoint;
    auth = await startDevAuthorizationServer({ sites: [alice, bob], legacyClients: true });
    hosts.alice.site.links = [auth.linkHeader];
    hosts.bob.site.links = [auth.linkHeader];
    await hosts.alice.pm.pm.updateSettings(alice, { addContacts: [bob] });

    const server = hosts.alice.pm.pm;
    inboxUrl = inboxAt === "/" ? hosts.alice.pm.url : `${hosts.alice.pm.url}inbox/`;
    inbox = indiepmInbox({ server, url: inboxUrl, logger, pollSeconds: 1 });
    const site = express();
    const bodyParsers = () => {
      site.use(express.json());
      site.use(express.urlencoded(parsers === "extended" ? { extended: true } : {}));
      site.use(express.text());
    };
    if (parsers !== "after") bodyParsers();
    if (inboxAt === "/") {
      site.use("/pm", indiepm({ server, logger }));
      site.use(inbox);
    } else {
      site.use("/inbox", inbox);
      site.use("/", indiepm({ server, logger }));
    }
    if (parsers === "after") bodyParsers();
    hosts.alice.pm.handler = site;
  });
  afterEach(async () => {
    await inbox.close();
    await auth.close();
    await hosts.close();
  });

  async function bobsInbox(): Promise<{ sender: string; content: string; name?: string }[]> {
    const res = await fetch(`${hosts.bob.pm.url}api/inbox`, { headers: { authorization: `Bearer ${OWNER_TOKEN}` } });
    const body = await res.json();
    return Array.isArray(body) ? body : body.items;
  }

  it("GET <inbox>/me/ and /me/<slug>/ serve alice's profile, every link under the mount", async () => {
    const profile = `${inboxUrl}me/${new URL(alice).host.replace(/[.:]/g, "-")}/`;
    for (const address of [`${inboxUrl}me/`, profile]) {
      const res = await fetch(address, { redirect: "manual" });
      expect(res.status, address).toBe(200);
      const page = await res.text();
      expect(page).toContain(`<code>${profile}</code>`);
      expect(page).toContain(`<link rel="micropub" href="${profile}micropub">`);
      expect(page).toContain(`<link rel="authorization_endpoint" href="${auth.authorizationEndpoint}">`);
      expect(page).toContain(`<link rel="stylesheet" href="${new URL(inboxUrl).pathname}static/style.css">`);
      expect(res.headers.get("link")).toContain(`<${profile}micropub>; rel="micropub"`);
    }
    // Without the slash: to the address with it, under the mount.
    const bare = await fetch(`${inboxUrl}me`, { redirect: "manual" });
    expect(bare.status).toBe(303);
    expect(bare.headers.get("location")).toBe(`${new URL(inboxUrl).pathname}me/`);
    // The stylesheet the page names is served there.
    expect((await fetch(`${inboxUrl}static/style.css`)).status).toBe(200);
  });

  it("micropub-helper 1.6.2 discovers, gets a token, reads q=config, and creates a JSON and a form post that arrive at bob's", async () => {
    const home = await (await fetch(`${inboxUrl}me/`)).text();
    const profile = /<code>(http[^<]*)<\/code>/.exec(home)![1]!;
    expect(profile.startsWith(`${inboxUrl}me/`)).toBe(true);
    const mp = new Micropub({ ...app, me: profile, state: "state-0123456789" });
    const authUrl = await mp.getAuthUrl();
    expect(mp.options.micropubEndpoint).toBe(`${profile}micropub`);
    expect(mp.options.tokenEndpoint).toBe(auth.tokenEndpoint);
    expect(await mp.getToken((await auth.approveAs(authUrl, alice)).searchParams.get("code")!)).toMatch(/\S{16,}/);

    const config = await mp.query("config");
    expect(config.visibility).toEqual(["private"]);
    expect(config["syndicate-to"]).toEqual([{ uid: bob, name: expect.any(String) }]);

    const first = await mp.create({
      type: ["h-entry"],
      properties: { name: ["Lunch"], content: ["Friday at noon?"], "mp-syndicate-to": [bob], visibility: ["private"] },
    });
    expect(first).toMatch(new RegExp(`^${inboxUrl}c/[A-Za-z0-9_-]+$`));
    const second = await mp.create({ h: "entry", content: "Or Saturday?", "mp-syndicate-to": [bob], visibility: "private" }, "form");
    expect(second).toMatch(new RegExp(`^${inboxUrl}c/[A-Za-z0-9_-]+$`));

    const arrived = await waitFor(async () => {
      const items = await bobsInbox();
      return items.length === 2 ? items : undefined;
    });
    expect(arrived.map((m) => [m.sender, m.content, m.name]).sort()).toEqual([
      [alice, "Friday at noon?", "Lunch"],
      [alice, "Or Saturday?", undefined],
    ]);
  });

  /** Quill's editor form: content[html] and a person tag, with a token for alice. */
  async function quillEditorPost(): Promise<Response> {
    const profile = /<code>(http[^<]*)<\/code>/.exec(await (await fetch(`${inboxUrl}me/`)).text())![1]!;
    return fetch(`${profile}micropub`, {
      method: "POST",
      headers: { authorization: `Bearer ${auth.issueToken({ me: alice, scope: "create" })}`, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams([
        ["h", "entry"],
        ["content[html]", "<p>Or <b>Sunday</b>?</p>"],
        ["category[]", bob],
      ]),
    });
  }

  if (parsers !== "extended")
    it("Quill's editor form (content[html], a person tag) arrives at bob's", async () => {
      expect((await quillEditorPost()).status).toBe(201);
      const arrived = await waitFor(async () => (await bobsInbox())[0]);
      expect(arrived).toMatchObject({ sender: alice, content: "Or Sunday?" });
    });

  if (parsers === "extended")
    it("behind express.urlencoded({ extended: true }), Quill's editor form is refused with Micropub's JSON error saying to mount first, nothing sent", async () => {
      const res = await quillEditorPost();
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({
        error: "invalid_request",
        error_description: expect.stringMatching(/"content" into a nested value.*mount indiepm before the app's body parsers/),
      });
      await hosts.idle();
      expect(await hosts.alice.pm.pm.outbox()).toEqual([]);
    });

  /** A create of `size` bytes of text, as JSON and as a form, with a token for alice: each answer. */
  async function postsOf(size: number): Promise<{ type: string; res: Response }[]> {
    const profile = /<code>(http[^<]*)<\/code>/.exec(await (await fetch(`${inboxUrl}me/`)).text())![1]!;
    const token = auth.issueToken({ me: alice, scope: "create" });
    const answers: { type: string; res: Response }[] = [];
    for (const [type, body] of [
      ["application/json", JSON.stringify({ type: ["h-entry"], properties: { content: ["x".repeat(size)], "mp-syndicate-to": [bob] } })],
      ["application/x-www-form-urlencoded", new URLSearchParams({ h: "entry", content: "x".repeat(size), "mp-syndicate-to[]": bob }).toString()],
    ] as const) {
      answers.push({
        type,
        res: await fetch(`${profile}micropub`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": type }, body }),
      });
    }
    return answers;
  }

  if (parsers === "after")
    it.each([
      // The endpoint's own limit (MICROPUB_LIMITS.maxBodyBytes, 240 KiB).
      ["over Micropub's 240 KiB", 250 * 1024, "invalid_request", /too large/],
      // Past what the router reads before the route is known (MAX_REQUEST_BODY_BYTES), as `indiepm serve` answers it.
      ["of 1 MiB", 1024 * 1024, "too_large", /over the limit of 262144 bytes/],
    ])("a Micropub body %s gets a JSON error with a sentence, nothing sent", async (_, size, error, says) => {
      for (const { type, res } of await postsOf(size)) {
        expect(res.status, type).toBe(413);
        expect(res.headers.get("content-type"), type).toMatch(/^application\/json/);
        expect(await res.json(), type).toEqual({ error, error_description: expect.stringMatching(says) });
      }
      await hosts.idle();
      expect(await hosts.alice.pm.pm.outbox()).toEqual([]);
    });

  if (parsers !== "after")
    it("a Micropub body over the app's parser limit gets the parser's own 413, which indiepm never sees: warned once, naming Micropub and the fix", async () => {
      for (const { type, res } of await postsOf(150 * 1024)) {
        expect(res.status, type).toBe(413);
        expect(res.headers.get("content-type"), type).toMatch(/^text\/html/);
      }
      await hosts.idle();
      expect(await hosts.alice.pm.pm.outbox()).toEqual([]);
      const fromInbox = warnings.filter((w) => w.includes("indiepmInbox()"));
      expect(fromInbox).toHaveLength(1);
      expect(fromInbox[0]).toContain(
        "posted by a Micropub app may be up to 240 KiB, and the Micropub app is then shown that HTML page instead of Micropub's JSON error",
      );
      const mount = inboxAt === "/" ? "/" : "/inbox";
      expect(fromInbox[0]).toContain(
        `Mount indiepmInbox() before the body parser (app.use("${mount}", indiepmInbox({ … })) above app.use(express.urlencoded()))`,
      );
    });

  it("the Microsub Settings authorization comes back to Settings under the mount", async () => {
    const channel: MicrosubReceiver = await startMicrosubReceiver({ autoApprove: true });
    try {
      const b = new Cookies();
      const signInPage = await (await b.fetch(inboxUrl)).text();
      const started = await b.post(`${inboxUrl}signin`, { csrf: csrfOf(signInPage), me: alice });
      const authUrl = refreshTarget(await started.text());
      const callback = await auth.approveAs(authUrl, alice);
      expect(callback.href.startsWith(inboxUrl)).toBe(true);
      const signedIn = await b.fetch(callback.href);
      expect(signedIn.status).toBe(303);

      const settings = await (await b.fetch(`${inboxUrl}settings`)).text();
      const authorize = await b.post(`${inboxUrl}settings/microsub/authorize`, { csrf: csrfOf(settings), channel: channel.profileUrl });
      expect(authorize.status).toBe(200);
      const channelAuth = new URL(refreshTarget(await authorize.text()));
      expect(channelAuth.searchParams.get("redirect_uri")).toBe(`${inboxUrl}settings/microsub/callback`);
      const approved = await fetch(channelAuth, { redirect: "manual" });
      const back = approved.headers.get("location")!;
      expect(back.startsWith(`${inboxUrl}settings/microsub/callback?`)).toBe(true);
      const done = await b.fetch(back);
      expect(done.status).toBe(303);
      expect(done.headers.get("location")).toBe(`${new URL(inboxUrl).pathname}settings?notice=microsub-saved`);
      expect(await hosts.alice.pm.pm.microsub(alice)).toMatchObject({ micropub: channel.micropubUrl, via: "indieauth" });
      const page = await (await b.fetch(new URL(done.headers.get("location")!, inboxUrl).href)).text();
      expect(page).toContain("Saved. Each new message is now posted to your Microsub channel.");
    } finally {
      await channel.close();
    }
  });
});

const csrfOf = (page: string) => /name="csrf" value="([^"]*)"/.exec(page)![1]!;
const refreshTarget = (page: string) => /http-equiv="refresh" content="0;url=([^"]+)"/.exec(page)![1]!.replace(/&amp;/g, "&");

/** Cookies by name and redirects by hand, with `Origin`/`Sec-Fetch-Site` as a browser sends them for its own forms. */
class Cookies {
  jar = new Map<string, string>();
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.jar.size > 0) headers.set("cookie", [...this.jar].map(([k, v]) => `${k}=${v}`).join("; "));
    if ((init.method ?? "GET") !== "GET") headers.set("origin", new URL(url).origin);
    headers.set("sec-fetch-site", "same-origin");
    const res = await fetch(url, { ...init, headers, redirect: "manual" });
    for (const c of res.headers.getSetCookie()) {
      const [name, ...value] = c.split(";")[0]!.split("=");
      if (/Max-Age=0/i.test(c)) this.jar.delete(name!.trim());
      else this.jar.set(name!.trim(), value.join("="));
    }
    return res;
  }
  post(url: string, fields: Record<string, string>): Promise<Response> {
    return this.fetch(url, { method: "POST", body: new URLSearchParams(fields), headers: { "content-type": "application/x-www-form-urlencoded" } });
  }
}
