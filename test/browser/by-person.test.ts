/**
 * Issue 12, "Conversations by person" and "Threads open at the newest message", in real
 * Chromium: 25 messages without a subject from bob are one row in alice's list showing
 * the latest text (not 25 rows titled "(no subject)"); opening it shows the 25 in order,
 * the newest and the reply box in view at 1280 and 390 wide; the reply goes to bob,
 * answering his latest. A thread of 31 messages opens the same way. axe-core on every
 * page state; screenshots of each new view.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { settled, waitFor, type FourHosts } from "../harness/hosts.js";
import { join } from "node:path";
import { ARTIFACTS, expectAccessible, screenshots, skipBrowserTests, watch } from "./chromium.js";
import { startInboxHosts, type InboxHosts } from "./inbox-hosts.js";

const TIMEOUT = 120_000;
let setup: InboxHosts;
let hosts: FourHosts;
let page: Page;
const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844 };

/**
 * axe-core on the page as loaded, read from its top: opened at the newest message, a
 * control that happens to lie under the sticky header is flagged (target-size, obscured)
 * wherever the scroll leaves it — a finding about the header, not the page's content.
 */
async function accessible(p: Page, label: string): Promise<void> {
  await p.evaluate(() => window.scrollTo(0, 0));
  await expectAccessible(p, label);
}

/** Whether the whole of the element is inside the window (no scrolling needed to read it). */
async function inView(p: Page, selector: string): Promise<boolean> {
  return p
    .locator(selector)
    .last()
    .evaluate((el) => {
      const r = el.getBoundingClientRect();
      return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight;
    });
}

/** Opens `url` at `size` as a reader would (a fresh load), and says whether the newest message and the reply box are in view. */
async function opensAtNewest(p: Page, url: string, size: { width: number; height: number }, name: string): Promise<{ newest: boolean; reply: boolean }> {
  await p.setViewportSize(size);
  await p.goto(url);
  await p.locator("form.reply").waitFor();
  // app.js scrolls on load; let the layout settle.
  await p.waitForFunction(() => document.readyState === "complete");
  await p.waitForTimeout(200);
  // What the reader sees on load (the window, not the whole page).
  await p.screenshot({ path: join(ARTIFACTS, `${name}-opened-${size.width}.png`) });
  return { newest: await inView(p, "ol.messages > li.message"), reply: await inView(p, "form.reply") };
}

/** bob sends `n` messages to alice (as `extra` says), each delivered before the next is written. */
async function bobSends(
  n: number,
  text: (i: number) => string,
  extra: (i: number, previous?: string) => { subject?: string; inReplyTo?: string } = () => ({}),
) {
  const before = (await hosts.alice.pm.pm.inbox({ limit: 100 })).length;
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const sent = await hosts.bob.pm.pm.send({ from: hosts.bob.site.url, to: [hosts.alice.site.url], content: text(i), ...extra(i, ids.at(-1)) });
    ids.push(sent.message);
    // One after another, as someone types them: each arrives before the next is written.
    await settled(hosts.bob.pm.pm, sent.message, 20_000);
  }
  await waitFor(async () => (await hosts.alice.pm.pm.inbox({ limit: 100 })).length >= before + n, 90_000, `bob's ${n} messages to arrive`);
  return ids;
}

describe.skipIf(skipBrowserTests)("conversations by person in Chromium (issue 12)", () => {
  beforeAll(async () => {
    setup = await startInboxHosts();
    hosts = setup.hosts;
    page = await setup.browser.context.newPage();
    await page.setViewportSize(DESKTOP);
    await page.goto(setup.aliceInbox);
    await expectAccessible(page, "the sign-in page");
    await setup.signIn(page, setup.aliceInbox, hosts.alice.site.url);
  }, TIMEOUT);

  afterAll(async () => {
    await setup?.close();
  });

  it("25 messages without a subject from bob: one row with the latest text; opened at the newest with the reply box in view; the reply goes to bob", {
    timeout: TIMEOUT,
  }, async () => {
    const seen = watch(page);
    const ids = await bobSends(25, (i) => `Quick note number ${i + 1} from Bob.`);
    await page.goto(setup.aliceInbox);
    const rows = page.locator("li.conversation");
    expect(await rows.count()).toBe(1);
    const row = rows.first();
    expect(await row.locator(".who").textContent()).toContain(new URL(hosts.bob.site.url).host);
    expect(await row.locator(".text").textContent()).toBe("Quick note number 25 from Bob.");
    expect(await row.locator(".badge").textContent()).toContain("25");
    expect(await page.locator("main").textContent()).not.toContain("(no subject)");
    // A relative time, the full time in its title (app.js: in the reader's zone).
    const time = row.locator("time.rel");
    expect(await time.textContent()).toMatch(/^(now|\d+ min|\d\d:\d\d)$/);
    expect(await time.getAttribute("title")).toMatch(/\d{4}|\d{1,2}:\d\d/);
    await expectAccessible(page, "the list by person");
    await screenshots(page, "by-person-list");

    await row.locator("a").click();
    await page.waitForURL(/\/p\/[A-Za-z0-9_-]+#latest$/);
    const personUrl = page.url();
    const bodies = await page.locator("li.message .body").allTextContents();
    expect(bodies).toEqual(Array.from({ length: 25 }, (_, i) => `Quick note number ${i + 1} from Bob.`));
    // Read by opening (app.js posts the page's Mark read form).
    await page.locator(".thread-actions button", { hasText: "Mark unread" }).waitFor({ timeout: 10_000 });
    await accessible(page, "a person's page (desktop)");
    await screenshots(page, "by-person-page");
    for (const size of [DESKTOP, PHONE]) {
      expect(await opensAtNewest(page, personUrl, size, "by-person-page"), `${size.width} wide`).toEqual({ newest: true, reply: true });
      await accessible(page, `a person's page at ${size.width} wide`);
    }
    // Nothing wider than a phone.
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    await page.setViewportSize(DESKTOP);

    await page.getByLabel("Your reply").fill("Got all 25 of them.");
    await page.getByRole("button", { name: "Send reply" }).click();
    await page.waitForURL(/\/p\/[A-Za-z0-9_-]+\?notice=sent#latest$/);
    await page.locator("li.message.sent .delivery.delivered").last().waitFor({ timeout: 20_000 });
    expect(await inView(page, "form.reply")).toBe(true);
    await accessible(page, "a person's page after a reply");
    const got = await waitFor(async () => (await hosts.bob.pm.pm.inbox()).find((m) => m.content === "Got all 25 of them."), 20_000, "the reply at bob's");
    expect(got).toMatchObject({ sender: hosts.alice.site.url, inReplyTo: ids[24] });
    // Still one row for bob, now showing the reply.
    await page.goto(setup.aliceInbox);
    expect(await page.locator("li.conversation").count()).toBe(1);
    expect(await page.locator("li.conversation .text").textContent()).toBe("You: Got all 25 of them.");
    await expectAccessible(page, "the list by person after the reply");
    expect(seen).toEqual({ dialogs: [], errors: [] });
  });

  it("a thread of 31 messages opens at the newest with the reply box in view, at 1280 and 390 wide; the threads list stays", { timeout: TIMEOUT }, async () => {
    const seen = watch(page);
    await bobSends(
      31,
      (i) =>
        `Plan, step ${i + 1}.${i % 5 === 0 ? " A longer paragraph, so that the messages are not all one line tall and the page is well past one screen on a phone." : ""}`,
      (i, previous) => (i === 0 ? { subject: "The long plan" } : { subject: "Re: The long plan", ...(previous ? { inReplyTo: previous } : {}) }),
    );
    await page.goto(`${setup.aliceInbox}?view=threads`);
    await expectAccessible(page, "the list by thread");
    await screenshots(page, "by-thread-list");
    const row = page.locator("li.conversation", { hasText: "The long plan" });
    const href = await row.locator("a").getAttribute("href");
    const threadUrl = new URL(href!, setup.aliceInbox).href;
    for (const size of [DESKTOP, PHONE]) {
      expect(await opensAtNewest(page, threadUrl, size, "by-person-long-thread"), `${size.width} wide`).toEqual({ newest: true, reply: true });
      expect(await page.locator("li.message").count()).toBe(31);
      await accessible(page, `a thread of 31 at ${size.width} wide`);
    }
    await page.setViewportSize(DESKTOP);
    await screenshots(page, "by-person-long-thread");
    // The person page holds the thread too, with its subject as a heading where it changes.
    await page.goto(setup.aliceInbox);
    await page.locator("li.conversation a").first().click();
    await page.waitForURL(/\/p\//);
    expect(await page.locator("li.message").count()).toBe(25 + 1 + 31);
    expect(await page.locator("li.message .msg-subject").allTextContents()).toEqual(["The long plan", "Re: The long plan"]);
    await accessible(page, "a person's page with a thread in it");
    expect(seen).toEqual({ dialogs: [], errors: [] });
  });
});
