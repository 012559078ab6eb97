/**
 * The settings page's forms (issue 12): each redirects back to the page (303, Post/
 * Redirect/Get); a refused one comes back with its error beside the field it is about,
 * the values typed kept, and the engine's own sentence in a details line; the page after
 * says it once. Over real HTTP on loopback, signed in with IndieAuth (support.ts).
 */
import { startLoopbackServer } from "@indiepm/test-support";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Browser, startInboxHost, type InboxHost } from "./support.js";

let host: InboxHost;
let b: Browser;
let csrf: string;
beforeEach(async () => {
  host = await startInboxHost();
  b = new Browser();
  csrf = Browser.csrf(await b.signIn(host));
});
afterEach(async () => {
  await host.close();
});

/** Posts a settings form and reads the page it is redirected to. */
async function post(action: string, fields: Record<string, string>): Promise<{ location: string; page: string }> {
  const res = await b.post(`${host.pmUrl}settings/${action}`, { csrf, ...fields });
  expect(res.status).toBe(303);
  const location = res.headers.get("location")!;
  return { location, page: await (await b.fetch(new URL(location, host.pmUrl).href)).text() };
}

describe("a settings form refused: the error beside its field, the values kept", () => {
  it("a block entry: the text and the host box as they were", async () => {
    const { location, page } = await post("blocked/add", { site: "host:spam.example/~x/", scope: "host" });
    expect(location).toMatch(/^\/settings\?flash=[\w-]+$/);
    expect(page).toMatch(/<input id="block"[^>]*value="host:spam.example\/~x\/" aria-invalid="true" aria-describedby="block-error" autofocus>/);
    expect(page).toMatch(/<input type="checkbox" name="scope" value="host" checked>/);
    expect(page).toContain('<p id="block-error"><span class="visually-hidden">Error: </span>');
    // The contact field is not the one refused.
    expect(page).not.toContain('id="contact-error"');
  });

  it("a webhook the engine refuses: a sentence for people, the engine's in a details line, the URL typed kept (not the saved one)", async () => {
    await host.pm.updateSettings(host.site, { webhook: "http://127.0.0.1:9/saved" });
    const { page } = await post("webhook", { webhook: "hooks.example" });
    expect(page).toMatch(
      /<input id="webhook" name="webhook" type="url" value="hooks.example"[^>]*aria-invalid="true" aria-describedby="webhook-error webhook-hint" autofocus>/,
    );
    expect(page).toContain("Enter the whole address of your webhook, starting with https://.");
    expect(page).toMatch(/<details class="tech"><summary>Details<\/summary><p><code>webhook is not an absolute URL.<\/code><\/p><\/details>/);
    expect((await host.pm.settings(host.site)).webhook).toBe("http://127.0.0.1:9/saved");
  });

  it("a policy that is none of the three: said in its fieldset, which it describes", async () => {
    const { page } = await post("policy", { policy: "everyone" });
    expect(page).toMatch(/<fieldset id="policy-choices" aria-invalid="true" aria-describedby="policy-choices-error" autofocus>/);
    expect(page).toContain('<p id="policy-choices-error"><span class="visually-hidden">Error: </span>Choose who may write to you.</p>');
  });

  it("delete everything without the box: the section open, the box marked", async () => {
    const { page } = await post("delete-all", {});
    expect(page).toContain('<details class="danger-zone" open><summary>Delete everything</summary>');
    expect(page).toMatch(
      /<input id="confirm-delete" type="checkbox" name="confirm" value="yes" required aria-invalid="true" aria-describedby="confirm-delete-error" autofocus>/,
    );
  });

  it("a token that is not this site's: said at the top of the tokens section", async () => {
    const { page } = await post("tokens/revoke", { id: "t".repeat(64) });
    const section = page.slice(page.indexOf('<h2 id="tokens-h">'), page.indexOf('<h2 id="data-h">'));
    expect(section).toContain('<div class="field-error" role="alert" tabindex="-1" autofocus><p>There is no such token.</p></div>');
  });

  it("saved: the page says so, with no error and the field empty", async () => {
    const { location, page } = await post("contacts/add", { site: "carol.example" });
    expect(location).toBe("/settings?notice=saved");
    expect(page).toMatch(/<p class="notice" role="status"[^>]*>Saved.<\/p>/);
    expect(page).not.toContain("aria-invalid");
    expect(page).toContain("<title>Settings · indiepm</title>");
  });
});

/** A site whose page carries its h-card (named `name`, its URL the site's); `requests()`: how often it was asked. */
async function namedSite(name: string) {
  let requests = 0;
  const server = await startLoopbackServer((_req, res) => {
    requests++;
    res
      .writeHead(200, { "content-type": "text/html; charset=utf-8" })
      .end(`<!doctype html><title>${name}</title><div class="h-card"><a class="p-name u-url" href="${server.url}">${name}</a></div>`);
  });
  return { url: server.url, host: new URL(server.url).host, requests: () => requests, close: () => server.close() };
}

describe("the lists of Settings name people, not hosts (issue 12)", () => {
  it("contacts, muted and blocked show the h-card name with the site beside it, and their buttons say whom; a blocked site never read is not fetched", async () => {
    const [carol, dave, spam] = await Promise.all([namedSite("Carol Person"), namedSite("Dave Blocked"), namedSite("Spammer")]);
    try {
      await post("contacts/add", { site: carol.url });
      expect((await host.pm.refreshPeople([carol.url, dave.url])).map((p) => p.name)).toEqual(["Carol Person", "Dave Blocked"]);
      expect((await b.post(`${host.pmUrl}people/mute`, { csrf, site: carol.url, on: "1", back: "settings" })).status).toBe(303);
      await post("blocked/add", { site: dave.url });
      await post("blocked/add", { site: spam.url });
      const { page } = await post("blocked/add", { site: "host:spam.example" });
      await host.pm.idle();
      const section = (from: string, to: string) => page.slice(page.indexOf(`<h2 id="${from}">`), page.indexOf(`<h2 id="${to}">`));
      const named = (site: { url: string; host: string }, name: string) =>
        new RegExp(
          `<span class="person" title="${site.url}"><span class="avatar[^>]*>[A-Z]+</span><span class="name">${name}</span> <span class="host">${site.host}</span></span>`,
        );
      const contacts = section("contacts-h", "blocked-h");
      expect(contacts).toMatch(named(carol, "Carol Person"));
      expect(contacts).toContain('Remove<span class="visually-hidden"> Carol Person</span>');
      const muted = section("muted-h", "notify-h");
      expect(muted).toMatch(named(carol, "Carol Person"));
      expect(muted).toContain('Unmute<span class="visually-hidden"> Carol Person</span>');
      const blocked = section("blocked-h", "muted-h");
      expect(blocked).toMatch(named(dave, "Dave Blocked"));
      expect(blocked).toContain('Unblock<span class="visually-hidden"> Dave Blocked</span>');
      // Never read, and blocked: the site, and nothing asked of it; a host entry in words.
      expect(blocked).toContain(`<span class="name">${spam.host}</span>`);
      expect(spam.requests()).toBe(0);
      expect(blocked).toContain('<span class="site">every site on spam.example</span>');
    } finally {
      await Promise.all([carol.close(), dave.close(), spam.close()]);
    }
  });
});
