/**
 * People, not hosts (issue 12, "Reading" 1), in Chromium: bob's site carries an h-card
 * (name "Bob Example", a photo on another loopback host); alice's inbox shows his name
 * and photo in the conversation list, the thread and the To suggestions — the photo from
 * alice's inbox origin, the browser never asking bob's site or the photo's host for
 * anything (a remote image would be a read receipt). axe-core on every state visited.
 */
import type { Page, Request } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLoopbackServer } from "@indiepm/test-support";
import { settled, type FourHosts } from "../harness/hosts.js";
import { expectAccessible, screenshots, skipBrowserTests, watch } from "./chromium.js";
import { startInboxHosts, type InboxHosts } from "./inbox-hosts.js";

const TIMEOUT = 90_000;
/** A 48×48 PNG (an orange square with a figure). */
const PHOTO = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAADAAAAAwCAIAAADYYG7QAAAAkElEQVR42u3Wyw2AMAwDUA/BJJyZhOkYkRE6ADT0o6QxspQB3iW2cV9HqoNAAgkkkEB/Bp37VrsFIEMzY4IHZYbFD+rSDJjgrek1CSSQQAJxgdIltcqVdA8lXYwa+VwgpxcjD8bh3uhiIUbTbkIMpZ2FYM2nCfEa28QDctUYJqzS1EwMoDDNqyk9KFjzNKUDFQoxu3U5YX91AAAAAElFTkSuQmCC",
  "base64",
);

let setup: InboxHosts;
let hosts: FourHosts;
let alice: Page;
let photoHost: Awaited<ReturnType<typeof startLoopbackServer>>;
let photoRequests = 0;
/** Every URL alice's browser asked for. */
const asked: string[] = [];

describe.skipIf(skipBrowserTests)("people: names and photos from h-cards", () => {
  beforeAll(async () => {
    photoHost = await startLoopbackServer((req, res) => {
      photoRequests++;
      if (req.url === "/bob.png") res.writeHead(200, { "content-type": "image/png" }).end(PHOTO);
      else res.writeHead(404).end();
    });
    setup = await startInboxHosts();
    hosts = setup.hosts;
    alice = await setup.browser.context.newPage();
    alice.on("request", (request: Request) => asked.push(request.url()));
    const bobPm = hosts.bob.pm.pm;
    const first = await bobPm.send({ from: hosts.bob.site.url, to: [hosts.alice.site.url], content: "Hello Alice, this is Bob.", subject: "Hello" });
    await settled(bobPm, first.message);
    // alice's server has read bob's page (it may have already, discovering his site): no h-card there yet.
    await hosts.alice.pm.pm.refreshPeople([hosts.bob.site.url]);
  }, TIMEOUT);

  afterAll(async () => {
    await setup?.close();
    await photoHost?.close();
  });

  it("the list shows the site while no h-card is known, then Bob's name and photo from alice's inbox", { timeout: TIMEOUT }, async () => {
    const seen = watch(alice);
    await setup.signIn(alice, setup.aliceInbox, hosts.alice.site.url);
    // First sight (the default view, by person): no name known, so the site and an initials avatar.
    const chat = alice.locator("li.chat").first();
    expect(await chat.locator(".person .name").textContent()).toBe(new URL(hosts.bob.site.url).host);
    expect(await chat.locator(".avatar.initials").count()).toBe(1);
    await expectAccessible(alice, "people: list before the h-card is read");
    await screenshots(alice, "people-list-initials");

    // Bob puts an h-card on his page; alice's server reads it again (a day on, when it next discovers his site; here at once).
    hosts.bob.site.body = `<div class="h-card"><img class="u-photo" src="${photoHost.url}bob.png" alt=""><a class="u-url u-uid p-name" href="${hosts.bob.site.url}">Bob Example</a></div>`;
    await hosts.alice.pm.pm.refreshPeople([hosts.bob.site.url]);
    for (const view of ["", "?view=threads"]) {
      await alice.goto(`${setup.aliceInbox}${view}`);
      const row = alice.locator("li.conversation").first();
      expect(await row.locator(".person .name").textContent()).toBe("Bob Example");
      expect(await row.locator(".person .host").textContent()).toBe(new URL(hosts.bob.site.url).host);
      const img = row.locator("img.avatar");
      const src = await img.getAttribute("src");
      expect(new URL(src!, setup.aliceInbox).origin).toBe(new URL(setup.aliceInbox).origin);
      await expect.poll(() => img.evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth)).toBe(48);
      await expectAccessible(alice, `people: list${view} with names and photos`);
      await screenshots(alice, view ? "people-threads" : "people-list");
    }
    expect(seen.errors).toEqual([]);
  });

  it("the thread names Bob with his photo in its header and on his message", { timeout: TIMEOUT }, async () => {
    await alice.locator("li.conversation a").first().click();
    await alice.waitForURL(/\/c\//);
    expect(await alice.locator(".participants .person .name").first().textContent()).toBe("Bob Example");
    const from = alice.locator("li.message.received .from");
    expect(await from.locator(".name").textContent()).toBe("Bob Example");
    await expect.poll(() => from.locator("img.avatar").evaluate((el: HTMLImageElement) => el.naturalWidth)).toBe(48);
    expect(await alice.locator("#reply-to").textContent()).toContain("Bob Example");
    await expectAccessible(alice, "people: thread");
    await screenshots(alice, "people-thread");

    // The person page (from the default view) is headed by him, and his messages carry his photo.
    await alice.goto(setup.aliceInbox);
    await alice.locator("li.chat a").first().click();
    await alice.waitForURL(/\/p\//);
    expect(await alice.locator("h1 .person .name").textContent()).toBe("Bob Example");
    expect(await alice.title()).toContain("Bob Example");
    await expect.poll(() => alice.locator("li.message.received .from img.avatar").evaluate((el: HTMLImageElement) => el.naturalWidth)).toBe(48);
    await expectAccessible(alice, "people: person page");
    await screenshots(alice, "people-person");
  });

  it("To suggests the people corresponded with, by name (a datalist: no script needed)", { timeout: TIMEOUT }, async () => {
    await alice.goto(`${setup.aliceInbox}compose`);
    const to = alice.getByLabel("To");
    expect(await to.getAttribute("list")).toBe("to-people");
    const options = await alice
      .locator("datalist#to-people option")
      .evaluateAll((els) => els.map((el) => ({ value: (el as HTMLOptionElement).value, label: el.textContent })));
    expect(options).toContainEqual({ value: hosts.bob.site.url, label: `Bob Example (${new URL(hosts.bob.site.url).host})` });
    await expectAccessible(alice, "people: compose with suggestions");
    await screenshots(alice, "people-compose");
  });

  it("To suggests for the recipient being typed, not the first only (app.js; without it the datalist as the server wrote it)", {
    timeout: TIMEOUT,
  }, async () => {
    await alice.goto(`${setup.aliceInbox}compose`);
    const to = alice.getByLabel("To");
    const bob = hosts.bob.site.url;
    const label = `Bob Example (${new URL(bob).host})`;
    const suggestion = (site: string) =>
      alice
        .locator(`datalist#to-people option[data-site="${site}"]`)
        .evaluate((el: HTMLOptionElement) => ({ value: el.value, label: el.label, disabled: el.disabled }));
    // The first recipient: the server's suggestions as they are.
    await to.fill("B");
    expect(await suggestion(bob)).toEqual({ value: bob, label, disabled: false });
    // Another after a comma: each suggestion is what is already typed, then that person's site (picking one adds them).
    await to.fill("carol.example, B");
    expect(await suggestion(bob)).toEqual({ value: `carol.example, ${bob}`, label: `carol.example, ${label}`, disabled: false });
    await expectAccessible(alice, "people: To suggesting a second recipient");
    // An https site is written without its scheme, as typed, unless the entry starts with one (Chromium matches what is typed within the value).
    await alice.evaluate(() => {
      const option = document.createElement("option");
      option.value = "https://dora.example/";
      option.textContent = "Dora (dora.example)";
      document.getElementById("to-people")!.append(option);
    });
    await to.fill("carol.example; do");
    expect(await suggestion("https://dora.example/")).toEqual({
      value: "carol.example; dora.example/",
      label: "carol.example; Dora (dora.example)",
      disabled: false,
    });
    await to.fill("carol.example https://do");
    expect((await suggestion("https://dora.example/")).value).toBe("carol.example https://dora.example/");
    // Someone already typed is not suggested again.
    await to.fill(`${bob}, `);
    expect(await suggestion(bob)).toMatchObject({ value: `${bob}, ${bob}`, disabled: true });
    await expectAccessible(alice, "people: To with one recipient typed");
    // One entry again: the server's suggestions again.
    await to.fill("");
    expect(await suggestion(bob)).toEqual({ value: bob, label, disabled: false });
  });

  it("the photo came from alice's inbox: the browser never asked bob's site or the photo's host", () => {
    const avatarRequests = asked.filter((url) => url.includes("/avatar/"));
    expect(avatarRequests.length).toBeGreaterThan(0);
    for (const url of avatarRequests) expect(new URL(url).origin).toBe(new URL(setup.aliceInbox).origin);
    const elsewhere = asked.filter((url) => url.startsWith(hosts.bob.site.url) || url.startsWith(photoHost.url));
    expect(elsewhere).toEqual([]);
    // The server fetched it, once.
    expect(photoRequests).toBe(1);
  });
});
