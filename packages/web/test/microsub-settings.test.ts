/**
 * Settings, "Read in a Microsub reader" (issue 13; pages/microsub.ts, microsub.ts,
 * indieauth-token.ts): authorizing indiepm at a channel through its own IndieAuth (a
 * loopback channel following Aperture's contract, test-support microsub-receiver.ts), or
 * saving its Micropub endpoint with an API key; the status line; removal. Each form ends
 * in a redirect to Settings; a refusal comes back beside its field with the address kept,
 * never the key. Over real HTTP on loopback, signed in with IndieAuth (support.ts).
 */
import { MICROSUB_REFUSED } from "@indiepm/core";
import { startLoopbackServer, startMicrosubReceiver, type MicrosubReceiver } from "@indiepm/test-support";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Browser, startInboxHost, type InboxHost } from "./support.js";

const KEY = "aperture-api-key-0123456789-k3y9";
let host: InboxHost;
let channel: MicrosubReceiver;
let b: Browser;
let csrf: string;
beforeEach(async () => {
  host = await startInboxHost();
  channel = await startMicrosubReceiver({ apiKeys: [KEY] });
  b = new Browser();
  csrf = Browser.csrf(await b.signIn(host));
});
afterEach(async () => {
  await channel.close();
  await host.close();
});

const decodeAmp = (s: string) => s.replace(/&amp;/g, "&");

/** Posts a form of the section; the page it is redirected to. */
async function post(action: string, fields: Record<string, string>): Promise<{ location: string; page: string }> {
  const res = await b.post(`${host.pmUrl}settings/microsub/${action}`, { csrf, ...fields });
  expect(res.status).toBe(303);
  const location = res.headers.get("location")!;
  return { location, page: await (await b.fetch(new URL(location, host.pmUrl).href)).text() };
}

/** Authorize → the channel's approve page → Approve → the callback; the callback's answer. */
async function authorize(address = channel.profileUrl, finisher = b): Promise<{ authUrl: URL; callback: Response }> {
  const started = await b.post(`${host.pmUrl}settings/microsub/authorize`, { csrf, channel: address });
  expect(started.status).toBe(200);
  const authUrl = new URL(decodeAmp(/http-equiv="refresh" content="0;url=([^"]+)"/.exec(await started.text())![1]!));
  const approve = await (await b.fetch(authUrl.href)).text();
  const fields = Object.fromEntries([...approve.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, decodeAmp(m[2]!)]));
  const back = await b.post(`${channel.url}auth`, fields, { from: channel.url.replace(/\/$/, "") });
  expect(back.status).toBe(302);
  return { authUrl, callback: await finisher.fetch(back.headers.get("location")!) };
}

describe("authorizing indiepm at the channel (IndieAuth, scope create)", () => {
  it("asks the channel's authorization endpoint for create with PKCE, redeems the code for a channel token and saves it: shown by its last 4 characters only", async () => {
    const { authUrl, callback } = await authorize();
    expect(authUrl.origin + authUrl.pathname).toBe(channel.authorizationEndpoint);
    expect(Object.fromEntries(authUrl.searchParams)).toMatchObject({
      response_type: "code",
      scope: "create",
      client_id: host.pmUrl,
      redirect_uri: `${host.pmUrl}settings/microsub/callback`,
      code_challenge_method: "S256",
      me: channel.profileUrl,
    });
    expect(authUrl.searchParams.get("code_challenge")).toMatch(/^[\w-]{43}$/);
    expect(callback.status).toBe(303);
    expect(callback.headers.get("location")).toBe("/settings?notice=microsub-saved");
    const [token] = channel.tokens();
    expect(await host.pm.microsub(host.site)).toMatchObject({
      micropub: channel.micropubUrl,
      via: "indieauth",
      me: channel.profileUrl,
      keyEnd: token!.slice(-4),
    });
    const page = await (await b.fetch(`${host.pmUrl}settings?notice=microsub-saved`)).text();
    expect(page).toContain("Saved. Each new message is now posted to your Microsub channel.");
    expect(page).toContain(
      `New messages are posted to <strong>${new URL(channel.micropubUrl).host}/micropub</strong>, authorized as <strong>${new URL(channel.profileUrl).host}/channel</strong> ending in <code>${token!.slice(-4)}</code>.`,
    );
    expect(page).toContain("No message posted yet.");
    expect(page).not.toContain(token!.slice(0, -4));
  });

  it("a state used once, or started by another session, saves nothing", async () => {
    const { authUrl, callback } = await authorize();
    expect(callback.status).toBe(303);
    await host.pm.clearMicrosub(host.site);
    // The same callback again (its code and state replayed).
    const again = await b.fetch(`${host.pmUrl}settings/microsub/callback?code=x&state=${authUrl.searchParams.get("state")}`);
    const page = await (await b.fetch(new URL(again.headers.get("location")!, host.pmUrl).href)).text();
    expect(page).toContain("This authorization was not started here, or it has expired. Authorize again.");
    expect(await host.pm.microsub(host.site)).toBeNull();

    // Approved, but the callback reached with another session (a foreign state): refused, nothing saved.
    const other = new Browser();
    await other.signIn(host);
    const foreign = await authorize(channel.profileUrl, other);
    expect(foreign.callback.status).toBe(303);
    const foreignPage = await (await other.fetch(new URL(foreign.callback.headers.get("location")!, host.pmUrl).href)).text();
    expect(foreignPage).toContain("This authorization was not started here, or it has expired. Authorize again.");
    expect(await host.pm.microsub(host.site)).toBeNull();
  });

  it("a channel saying no, and a channel naming no endpoints: said beside the address, which is kept", async () => {
    const started = await b.post(`${host.pmUrl}settings/microsub/authorize`, { csrf, channel: channel.profileUrl });
    const state = new URL(decodeAmp(/content="0;url=([^"]+)"/.exec(await started.text())![1]!)).searchParams.get("state");
    const denied = await b.fetch(`${host.pmUrl}settings/microsub/callback?error=access_denied&state=${state}`);
    const deniedPage = await (await b.fetch(new URL(denied.headers.get("location")!, host.pmUrl).href)).text();
    expect(deniedPage).toContain("Your Microsub server did not authorize indiepm (access_denied).");
    expect(deniedPage).toMatch(/<input id="microsub-channel"[^>]*value="http:\/\/127\.0\.0\.1:\d+\/channel" aria-invalid="true"/);

    const bare = await startLoopbackServer((_req, res) => res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>x</title>"));
    try {
      const { page } = await post("authorize", { channel: bare.url });
      expect(page).toContain(`${bare.url} names no Micropub endpoint (rel=micropub), so indiepm cannot be authorized there; use an API key instead.`);
      expect(page).toMatch(
        new RegExp(
          `<input id="microsub-channel"[^>]*value="${bare.url}" aria-invalid="true" aria-describedby="microsub-channel-error microsub-channel-hint" autofocus>`,
        ),
      );
    } finally {
      await bare.close();
    }
    expect(await host.pm.microsub(host.site)).toBeNull();
  });
});

describe("an API key", () => {
  it("is saved with the Micropub endpoint and never shown again: only its last 4 characters", async () => {
    const { location, page } = await post("key", { channel: channel.micropubUrl, key: KEY });
    expect(location).toBe("/settings?notice=microsub-saved");
    expect(page).toContain(`with the API key ending in <code>k3y9</code>.`);
    expect(page).not.toContain(KEY.slice(0, -4));
    expect(await host.pm.microsub(host.site)).toMatchObject({ micropub: channel.micropubUrl, via: "api-key", keyEnd: "k3y9" });
    const exported = await (await b.fetch(`${host.pmUrl}export.json`)).text();
    expect(exported).not.toContain(KEY.slice(4));
  });

  it("an endpoint carrying its key in the query (Ekster's older ?source_id= URLs) is shown without it", async () => {
    const { page } = await post("key", { channel: `${channel.micropubUrl}?source_id=s3cr3t-source`, key: KEY });
    expect(page).toContain(`New messages are posted to <strong>${new URL(channel.micropubUrl).host}/micropub</strong>`);
    expect(page).not.toContain("s3cr3t-source");
  });

  it("empty, or not one word: said beside the key field, the address kept and the key not", async () => {
    const empty = await post("key", { channel: channel.micropubUrl, key: "" });
    expect(empty.page).toContain("Paste the channel&#39;s API key, or choose Authorize.");
    expect(empty.page).toMatch(
      /<input id="microsub-key" name="key" type="password"[^>]*aria-invalid="true" aria-describedby="microsub-key-error microsub-key-hint" autofocus>/,
    );
    expect(empty.page).toContain(`value="${channel.micropubUrl}"`);
    const spaced = await post("key", { channel: channel.micropubUrl, key: "two words" });
    expect(spaced.page).toContain("That is not an API key: paste it as your Microsub server shows it, one word without spaces.");
    expect(spaced.page).not.toContain("two words");
    expect(await host.pm.microsub(host.site)).toBeNull();
  });

  it("an address that is not a URL: said beside the address", async () => {
    const { page } = await post("key", { channel: "aperture.example", key: KEY });
    expect(page).toContain("Enter the whole address of your channel, starting with https://.");
    expect(page).not.toContain(KEY);
  });
});

describe("the status line and removal", () => {
  it("a channel that refused the key says so in words: authorize again", async () => {
    await post("key", { channel: channel.micropubUrl, key: KEY });
    type Settings = { _id: string; microsub: Record<string, unknown> };
    const doc = (await host.store.get<Settings>("settings", host.site))!;
    await host.store.update<Settings>("settings", host.site, { set: { microsub: { ...doc.microsub, refusedAt: Date.now() } } });
    const page = await (await b.fetch(`${host.pmUrl}settings`)).text();
    expect(page).toContain(`<strong>${MICROSUB_REFUSED}</strong> Since`);
  });

  it("Remove ends it", async () => {
    await post("key", { channel: channel.micropubUrl, key: KEY });
    const { location, page } = await post("remove", {});
    expect(location).toBe("/settings?notice=microsub-removed");
    expect(page).toContain("Removed: nothing more is posted to your Microsub channel.");
    expect(page).not.toContain('id="microsub-status"');
    expect(await host.pm.microsub(host.site)).toBeNull();
  });
});
