/**
 * Issue 13, "Read in a Microsub reader", in real Chromium: alice names her channel on a
 * loopback Microsub server (test-support microsub-receiver.ts, Aperture's contract) in
 * Settings, authorizes indiepm there through the channel's own IndieAuth (its approve
 * page), comes back to Settings with the channel shown by the key's last 4 characters;
 * then a message bob's site sends her arrives in the channel as a jf2 entry. A channel
 * naming no endpoints is said beside the address. axe-core on every state of the page;
 * screenshots of each.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLoopbackServer, startMicrosubReceiver, type MicrosubReceiver } from "@indiepm/test-support";
import { waitFor, type FourHosts } from "../harness/hosts.js";
import { expectAccessible, screenshots as shoot, skipBrowserTests, watch } from "./chromium.js";
import { startInboxHosts, type InboxHosts } from "./inbox-hosts.js";

const TIMEOUT = 60_000;
let setup: InboxHosts;
let hosts: FourHosts;
let channel: MicrosubReceiver;
let page: Page;
let settingsUrl: string;

/** Screenshots from the Microsub section (the rest of Settings has its own test). */
async function screenshots(p: Page, name: string): Promise<void> {
  await p.evaluate(() => document.getElementById("microsub-h")?.scrollIntoView());
  await shoot(p, name);
}

describe.skipIf(skipBrowserTests)("Read in a Microsub reader, in Chromium (issue 13)", () => {
  beforeAll(async () => {
    setup = await startInboxHosts();
    hosts = setup.hosts;
    channel = await startMicrosubReceiver({ channel: "Messages" });
    page = await setup.browser.context.newPage();
    await setup.signIn(page, setup.aliceInbox, hosts.alice.site.url);
    settingsUrl = `${setup.aliceInbox}settings`;
  }, TIMEOUT);

  afterAll(async () => {
    await channel?.close();
    await setup?.close();
  });

  it("a channel naming no endpoints: said beside the address, which is kept", { timeout: TIMEOUT }, async () => {
    const bare = await startLoopbackServer((_req, res) => res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>x</title><h1>x</h1>"));
    try {
      const seen = watch(page);
      await page.goto(settingsUrl);
      await expectAccessible(page, "settings without a Microsub channel");
      await screenshots(page, "microsub-empty");
      await page.getByLabel("Channel address").fill(bare.url);
      await page.getByRole("button", { name: "Authorize" }).click();
      await page.waitForURL(/\/settings\?flash=/);
      const field = page.getByLabel("Channel address");
      expect(await field.inputValue()).toBe(bare.url);
      expect(await field.getAttribute("aria-invalid")).toBe("true");
      expect(await page.evaluate(() => document.activeElement?.id)).toBe("microsub-channel");
      expect(await page.locator("#microsub-channel-error").textContent()).toContain("names no Micropub endpoint (rel=micropub)");
      await expectAccessible(page, "the Microsub address refused");
      await screenshots(page, "microsub-refused");
      expect(seen.errors).toEqual([]);
    } finally {
      await bare.close();
    }
  });

  it("authorizing at the channel's own IndieAuth, then a message bob sends arrives in the channel", { timeout: TIMEOUT }, async () => {
    const seen = watch(page);
    await page.goto(settingsUrl);
    await page.getByLabel("Channel address").fill(channel.profileUrl);
    await page.getByRole("button", { name: "Authorize" }).click();
    await page.waitForURL(`${channel.url}auth?**`);
    expect(new URL(page.url()).searchParams.get("scope")).toBe("create");
    await page.getByRole("button", { name: "Approve" }).click();
    await page.waitForURL(/\/settings\?notice=microsub-saved/);

    const [token] = channel.tokens();
    const status = page.locator("#microsub-status");
    expect(await status.textContent()).toContain(`authorized as ${new URL(channel.profileUrl).host}/channel ending in ${token!.slice(-4)}`);
    expect(await status.textContent()).toContain("No message posted yet.");
    expect(await page.content()).not.toContain(token!.slice(0, -4));
    expect(await page.getByRole("status").textContent()).toContain("Each new message is now posted to your Microsub channel.");
    await expectAccessible(page, "settings with a Microsub channel");
    await screenshots(page, "microsub-authorized");

    const sent = await hosts.bob.pm.pm.send({ from: hosts.bob.site.url, to: [hosts.alice.site.url], content: "Seen in your reader?", subject: "Hello" });
    await waitFor(() => channel.entries().length === 1, 15_000, "the message in the channel");
    const [entry] = channel.entries();
    expect(entry!.token).toBe(token);
    expect(entry!.entry).toMatchObject({
      type: "entry",
      name: "Hello",
      content: { text: "Seen in your reader?" },
      author: { type: "card", url: hosts.bob.site.url },
    });
    expect(String(entry!.entry.url)).toMatch(new RegExp(`^${setup.aliceInbox}c/[\\w-]+#pm-`));
    expect(sent.deliveries).toHaveLength(1);

    await page.reload();
    expect(await page.locator("#microsub-status").textContent()).toMatch(/Last message posted/);
    await expectAccessible(page, "settings after a message was posted");
    await screenshots(page, "microsub-posted");
    expect(seen.errors).toEqual([]);
  });
});
