/**
 * Issue 13 end to end: a real Micropub client library, micropub-helper 1.6.2 (what Micropub
 * apps in JavaScript use), writes private messages through alice's DM profile URL. It
 * discovers the endpoints from the profile page, signs in at alice's own IndieAuth server
 * (the dev one, `legacyClients`: micropub-helper sends no PKCE, and `me` = the profile URL),
 * reads `q=config`, and creates posts (JSON and form) that arrive in bob's inbox, read
 * through his owner API; each answer's Location is the thread in alice's web inbox.
 */
import Micropub, { type MicropubHelperError } from "micropub-helper";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startDevAuthorizationServer, type DevAuthorizationServer } from "@indiepm/test-support";
import { fourHosts, OWNER_TOKEN, settled, waitFor, type FourHosts } from "../harness/hosts.js";

let hosts: FourHosts;
let auth: DevAuthorizationServer;
let alice: string;
let bob: string;
/** The app: a client_id and redirect_uri on loopback (the dev server never fetches them). */
const app = { clientId: "http://127.0.0.1:9/app/", redirectUri: "http://127.0.0.1:9/app/callback" };

beforeEach(async () => {
  hosts = await fourHosts({ inbox: true });
  alice = hosts.alice.site.url;
  bob = hosts.bob.site.url;
  auth = await startDevAuthorizationServer({ sites: [alice, bob], legacyClients: true });
  hosts.alice.site.links = [auth.linkHeader];
  hosts.bob.site.links = [auth.linkHeader];
  await hosts.alice.pm.pm.updateSettings(alice, { addContacts: [bob] });
});
afterEach(async () => {
  await auth.close();
  await hosts.close();
});

/** alice's DM profile URL, as a person finds it: `<inbox>/me/` (her server holds one site) shows her profile and the address to sign in with. */
async function profileOfAlice(): Promise<string> {
  const res = await fetch(`${hosts.alice.pm.url}me/`);
  expect(res.status).toBe(200);
  const shown = /<code>(http[^<]*)<\/code>/.exec(await res.text())?.[1];
  expect(shown).toBeDefined();
  return shown!;
}

/** What a person does at the authorization server's page: approve as alice. Returns the code the app's redirect carries. */
async function approveAsAlice(authUrl: string, state: string): Promise<string> {
  const location = await auth.approveAs(authUrl, alice);
  expect(`${location.origin}${location.pathname}`).toBe(app.redirectUri);
  expect(location.searchParams.get("state")).toBe(state);
  return location.searchParams.get("code")!;
}

/** bob's inbox through his owner API. */
async function bobsInbox(): Promise<{ sender: string; content: string; name?: string; inReplyTo?: string; message: string }[]> {
  const res = await fetch(`${hosts.bob.pm.url}api/inbox`, { headers: { authorization: `Bearer ${OWNER_TOKEN}` } });
  expect(res.status).toBe(200);
  const body = await res.json();
  return Array.isArray(body) ? body : body.items;
}

describe("micropub-helper 1.6.2 through alice's DM profile URL", () => {
  it("discovers the endpoints, gets a token at alice's IndieAuth, reads q=config, and creates messages that arrive at bob's", async () => {
    const profile = await profileOfAlice();
    expect(profile).toMatch(new RegExp(`^${hosts.alice.pm.url}me/[A-Za-z0-9_-]+/$`));
    const state = "state-0123456789";
    const mp = new Micropub({ ...app, me: profile, state });

    // Discovery from the profile page: alice's own IndieAuth, and this server's Micropub endpoint.
    const authUrl = await mp.getAuthUrl();
    expect(mp.options.authEndpoint).toBe(auth.authorizationEndpoint);
    expect(mp.options.tokenEndpoint).toBe(auth.tokenEndpoint);
    expect(mp.options.micropubEndpoint).toBe(`${profile}micropub`);
    expect(new URL(authUrl).searchParams.get("scope")).toContain("create");

    const token = await mp.getToken(await approveAsAlice(authUrl, state));
    expect(token).toMatch(/\S{16,}/);

    const config = await mp.query("config");
    expect(config.visibility).toEqual(["private"]);
    expect(config["syndicate-to"]).toEqual([{ uid: bob, name: expect.any(String) }]);
    expect(await mp.query("syndicate-to")).toEqual({ "syndicate-to": config["syndicate-to"] });

    // JSON, as micropub-helper sends by default.
    const first = await mp.create({
      type: ["h-entry"],
      properties: { name: ["Lunch"], content: ["Friday at noon?"], "mp-syndicate-to": [bob], visibility: ["private"] },
    });
    expect(first).toMatch(new RegExp(`^${hosts.alice.pm.url}c/[A-Za-z0-9_-]+$`));
    // Form-encoded: qs writes mp-syndicate-to[]=…, as Quill does.
    const second = await mp.create({ h: "entry", content: "Or Saturday?", "mp-syndicate-to": [bob], visibility: "private" }, "form");
    expect(second).toMatch(new RegExp(`^${hosts.alice.pm.url}c/[A-Za-z0-9_-]+$`));

    const arrived = await waitFor(async () => {
      const items = await bobsInbox();
      return items.length === 2 ? items : undefined;
    });
    expect(arrived.map((m) => [m.sender, m.content, m.name]).sort()).toEqual([
      [alice, "Friday at noon?", "Lunch"],
      [alice, "Or Saturday?", undefined],
    ]);
    // Each Location is the thread of what was sent, in alice's web inbox.
    for (const [location, content] of [
      [first, "Friday at noon?"],
      [second, "Or Saturday?"],
    ] as const) {
      const thread = await hosts.alice.pm.pm.thread((location as string).slice(`${hosts.alice.pm.url}c/`.length));
      expect(thread?.items.map((i) => i.content)).toEqual([content]);
    }
  });

  it("a reply to a message bob sent alice goes back to bob, in-reply-to it, Re: its subject", async () => {
    const question = await hosts.bob.pm.pm.send({ from: bob, to: [alice], subject: "Books", content: "Have you read it?" });
    await settled(hosts.bob.pm.pm, question.message);
    const mp = new Micropub({ ...app, me: await profileOfAlice(), state: "state-reply-0123" });
    const authUrl = await mp.getAuthUrl();
    await mp.getToken(await approveAsAlice(authUrl, "state-reply-0123"));

    const location = await mp.create({ h: "entry", content: "Yes, twice.", "in-reply-to": question.message }, "form");
    const reply = await waitFor(async () => (await bobsInbox()).find((m) => m.sender === alice));
    expect(reply).toMatchObject({ content: "Yes, twice.", name: "Re: Books", inReplyTo: question.message });
    // The reply is in the thread of bob's message in alice's inbox.
    const thread = await hosts.alice.pm.pm.thread((location as string).slice(`${hosts.alice.pm.url}c/`.length));
    expect(thread?.items.map((i) => i.content)).toEqual(["Have you read it?", "Yes, twice."]);
  });

  it("refusals reach the app as Micropub errors: a post naming nobody, and a token for bob at alice's profile", async () => {
    const mp = new Micropub({ ...app, me: await profileOfAlice(), state: "state-refuse-01" });
    const authUrl = await mp.getAuthUrl();
    await mp.getToken(await approveAsAlice(authUrl, "state-refuse-01"));
    const nobody = await mp.create({ type: ["h-entry"], properties: { content: ["to whom?"] } }).catch((e: MicropubHelperError) => e);
    expect(nobody).toMatchObject({ status: 400 });
    mp.options.token = auth.issueToken({ me: bob, scope: "create" });
    const foreign = await mp.create({ type: ["h-entry"], properties: { content: ["hi"], "mp-syndicate-to": [bob] } }).catch((e: MicropubHelperError) => e);
    expect(foreign).toMatchObject({ status: 403 });
    await hosts.idle();
    expect(await hosts.alice.pm.pm.outbox()).toEqual([]);
    expect(await bobsInbox()).toEqual([]);
  });
});
