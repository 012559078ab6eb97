/**
 * Issue 13, in real Chromium: Settings shows "Write from Micropub apps" with the site's
 * DM profile URL to copy and how to use it, and that URL is a public page (no sign-in)
 * naming the site's own IndieAuth and the Micropub endpoint — for the standalone inbox
 * (alice, at the pm server's root) and the Express one (bob, under /inbox/). axe-core on
 * every state; screenshots at desktop and phone width.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FourHosts } from "../harness/hosts.js";
import { expectAccessible, screenshots, skipBrowserTests, watch } from "./chromium.js";
import { startInboxHosts, type InboxHosts } from "./inbox-hosts.js";

const TIMEOUT = 60_000;
let setup: InboxHosts;
let hosts: FourHosts;
let page: Page;

/** The profile URL Settings shows, read from its field. */
async function profileShown(p: Page): Promise<string> {
  const field = p.getByLabel("Your private-message address for Micropub apps");
  expect(await field.getAttribute("readonly")).not.toBeNull();
  return field.inputValue();
}

/** rel → href of the page's `<link>` elements. */
async function headLinks(p: Page): Promise<Record<string, string>> {
  return p.evaluate(() =>
    Object.fromEntries([...document.querySelectorAll("head link[rel]")].map((l) => [l.getAttribute("rel")!, (l as HTMLLinkElement).href])),
  );
}

describe.skipIf(skipBrowserTests)("Write from Micropub apps, in Chromium (issue 13)", () => {
  beforeAll(async () => {
    setup = await startInboxHosts();
    hosts = setup.hosts;
    page = await setup.browser.context.newPage();
  }, TIMEOUT);

  afterAll(async () => {
    await setup?.close();
  });

  it("Settings shows alice's DM profile URL and three lines of how; the URL is her profile page", { timeout: TIMEOUT }, async () => {
    const seen = watch(page);
    await setup.signIn(page, setup.aliceInbox, hosts.alice.site.url);
    await page.goto(`${setup.aliceInbox}settings`);
    const section = page.getByRole("region", { name: "Write from Micropub apps" });
    await expect(section.isVisible()).resolves.toBe(true);
    const profile = await profileShown(page);
    expect(profile).toMatch(new RegExp(`^${setup.aliceInbox}me/[a-z0-9-]+/$`));
    expect(await section.getByRole("listitem").count()).toBe(3);
    await expect(section.textContent()).resolves.toContain("only to the people you pick");
    await expectAccessible(page, "settings with the Micropub section");
    await section.scrollIntoViewIfNeeded();
    await screenshots(page, "micropub-settings");

    await page.goto(profile);
    await expectAccessible(page, "alice's DM profile page");
    expect(await headLinks(page)).toMatchObject({
      authorization_endpoint: setup.auth.authorizationEndpoint,
      token_endpoint: setup.auth.tokenEndpoint,
      "indieauth-metadata": setup.auth.metadataUrl,
      micropub: `${profile}micropub`,
    });
    await expect(page.getByRole("heading", { level: 1 }).textContent()).resolves.toContain(new URL(hosts.alice.site.url).host);
    await screenshots(page, "micropub-profile");
    expect(seen.errors).toEqual([]);
  });

  it("bob's inbox under /inbox/ (Express): his profile is under it, and opens without a session", { timeout: TIMEOUT }, async () => {
    await setup.signIn(page, setup.bobInbox, hosts.bob.site.url);
    await page.goto(`${setup.bobInbox}settings`);
    const profile = await profileShown(page);
    expect(profile).toMatch(new RegExp(`^${setup.bobInbox}me/[a-z0-9-]+/$`));
    await expectAccessible(page, "bob's settings with the Micropub section");

    // Anyone: the same browser with no session at all.
    await setup.browser.context.clearCookies();
    const answer = await page.goto(profile);
    expect(answer?.status()).toBe(200);
    await expectAccessible(page, "bob's DM profile page, seen by anyone");
    expect((await headLinks(page)).micropub).toBe(`${profile}micropub`);
  });
});
