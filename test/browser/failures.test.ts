/**
 * Issue 12 "Sending", failures you can see, in real Chromium: bob's server is down when
 * alice writes; she sees the message "not delivered yet" in her conversation list and a
 * "Not delivered (1)" count in the navigation, leading to a page with the next try, the
 * reason in plain words and its technical details line; bob's server comes back and
 * "Retry now" delivers at once, without waiting for the back-off (five minutes or more here); another
 * message is cancelled from its thread and never reaches bob. axe-core on every state;
 * screenshots of each new view at desktop and phone widths.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor, type FourHosts } from "../harness/hosts.js";
import { expectAccessible, screenshots, skipBrowserTests, watch } from "./chromium.js";
import { startInboxHosts, type InboxHosts } from "./inbox-hosts.js";

const TIMEOUT = 90_000;
/** A back-off of five minutes and more (§6 jitter: half to all of 10 min): within a test only "Retry now" delivers. */
const SLOW_RETRY = { baseDelayMs: 600_000, maxDelayMs: 3_600_000, handshakeTimeoutMs: 3_000, giveUpAfterMs: 86_400_000 };

let setup: InboxHosts;
let hosts: FourHosts;
let page: Page;

const bobHost = () => new URL(hosts.bob.site.url).host;
const bobGot = async () => (await hosts.bob.pm.pm.inbox()).map((m) => m.content);

/** Writes to bob from the compose page; resolves on the new conversation's page. */
async function write(subject: string, text: string): Promise<void> {
  await page.goto(`${setup.aliceInbox}compose`);
  await page.getByLabel("To").fill(hosts.bob.site.url);
  await page.getByLabel("Subject").fill(subject);
  await page.getByLabel("Message", { exact: true }).fill(text);
  await page.getByRole("button", { name: "Send", exact: true }).click();
  await page.waitForURL(/\/c\/[^/?]+\?notice=/);
}

/** The delivery chip of the thread's last sent message. */
const lastChip = () => page.locator("li.message.sent").last().locator("li.delivery");

describe.skipIf(skipBrowserTests)("failed and stuck deliveries in Chromium (issue 12)", () => {
  beforeAll(async () => {
    setup = await startInboxHosts({ alice: { retry: SLOW_RETRY } });
    hosts = setup.hosts;
    page = await setup.browser.context.newPage();
    await setup.signIn(page, setup.aliceInbox, hosts.alice.site.url);
  }, TIMEOUT);

  afterAll(async () => {
    await setup?.close();
  });

  it("bob's server down: the thread, the list and the navigation say not delivered yet, with the next try; the page says why", {
    timeout: TIMEOUT,
  }, async () => {
    const seen = watch(page);
    await hosts.bob.pm.stop();
    await write("Lunch on Friday?", "Hi Bob, lunch on Friday at noon?");

    // The thread: the chip turns from "sending…" to "not delivered yet" (app.js), with the reason and the buttons.
    const chip = lastChip();
    await expect.poll(() => chip.locator(".state").textContent(), { timeout: 10_000 }).toBe("not delivered yet");
    expect(await chip.getAttribute("class")).toBe("delivery pending stuck");
    expect(await chip.locator(".detail").textContent()).toBe(`The server of ${bobHost()} could not be reached.`);
    expect(await chip.locator(".next").textContent()).toMatch(/^ · trying again at .+/);
    expect(await chip.locator("details.tech").textContent()).toContain("retrying (network_error)");
    expect(await chip.getByRole("button", { name: `Retry now the message to ${bobHost()}` }).isVisible()).toBe(true);
    await expectAccessible(page, "a thread with a delivery not delivered yet (live)");
    await page.reload();
    // Rendered by the server too (no script needed), with the technical details line.
    expect(await lastChip().locator(".state").textContent()).toBe("not delivered yet");
    await lastChip().locator("details.tech summary").click();
    expect(await lastChip().locator("details.tech").textContent()).toContain("network_error");
    await expectAccessible(page, "a thread with a delivery not delivered yet");
    await screenshots(page, "failures-thread-stuck");

    // The list: the conversation's row says so, and the navigation counts it.
    await page.goto(setup.aliceInbox);
    const row = page.locator("li.conversation", { hasText: "Lunch on Friday?" });
    expect(await row.locator(".undelivered-note").textContent()).toMatch(new RegExp(`^⚠ Not delivered yet to ${bobHost()} · trying again at .+`));
    const nav = page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Not delivered (1)" });
    expect(await nav.isVisible()).toBe(true);
    // On a phone: ⚠ (1), the words read but not shown, so the navigation stays on one line; no sideways scroll.
    const original = page.viewportSize()!;
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await nav.locator(".undelivered-icon").isVisible()).toBe(true);
    expect((await nav.locator(".undelivered-words").boundingBox())!.width).toBeLessThanOrEqual(1);
    const navBox = (await page.getByRole("navigation", { name: "Main" }).boundingBox())!;
    const linkBox = (await nav.boundingBox())!;
    expect(navBox.height).toBeLessThan(linkBox.height * 1.5);
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.setViewportSize(original);
    await expectAccessible(page, "the conversation list with a message not delivered yet");
    await screenshots(page, "failures-list");

    // The person page (the row's link) shows the same chip, also once app.js has polled its status.json.
    const polled = page.waitForResponse((r) => /\/p\/[^/]+\/status\.json$/.test(new URL(r.url()).pathname), { timeout: 10_000 });
    await row.getByRole("link").first().click();
    await page.waitForURL(/\/p\//);
    await polled;
    await page.waitForTimeout(200);
    expect(await lastChip().locator(".state").textContent()).toBe("not delivered yet");
    expect(await lastChip().getAttribute("class")).toBe("delivery pending stuck");
    await expectAccessible(page, "the person page with a delivery not delivered yet");
    await page.goto(setup.aliceInbox);

    // The page: next try, reason in plain words, the code only in the details line.
    await nav.click();
    await page.waitForURL(/\/deliveries$/);
    expect(await page.getByRole("heading", { level: 1 }).textContent()).toBe("Not delivered");
    const item = page.locator("li.undelivered-item");
    expect(await item.count()).toBe(1);
    expect(await item.locator(".what").textContent()).toBe("Lunch on Friday?");
    expect(await item.locator(".state").textContent()).toMatch(/^Not delivered yet\. Trying again at .+\.$/);
    // The next try is the back-off's (minutes away), shown in the reader's zone from its UTC datetime.
    const next = Date.parse((await item.locator(".state time").getAttribute("datetime"))!);
    expect(next - Date.now()).toBeGreaterThan(20_000);
    expect(await item.locator(".reason").textContent()).toBe(`The server of ${bobHost()} could not be reached.`);
    expect(await item.locator(".reason").textContent()).not.toContain("network_error");
    expect(await item.locator("details.tech").getAttribute("open")).toBeNull();
    await expectAccessible(page, "the Not delivered page");
    await item.locator("details.tech summary").click();
    expect(await item.locator("details.tech p").textContent()).toContain("network_error");
    await expectAccessible(page, "the Not delivered page, details open");
    await screenshots(page, "failures-page");
    expect(seen.errors).toEqual([]);
  });

  it("bob's server back: Retry now delivers at once, not after the back-off, and the count goes", { timeout: TIMEOUT }, async () => {
    await hosts.bob.pm.resume();
    await page.goto(`${setup.aliceInbox}deliveries`);
    const started = Date.now();
    await page.getByRole("button", { name: `Retry now the message to ${bobHost()}` }).click();
    await page.waitForURL(/\/deliveries\?notice=retrying$/);
    expect(await page.locator("p.notice").textContent()).toBe("Trying again now.");
    await expectAccessible(page, "the Not delivered page after Retry now");
    await waitFor(async () => (await bobGot()).includes("Hi Bob, lunch on Friday at noon?"), 15_000, "bob to have the message");
    expect(Date.now() - started).toBeLessThan(15_000);

    await page.goto(`${setup.aliceInbox}deliveries`);
    expect(await page.locator("p.empty").textContent()).toContain("Every message you sent was delivered or is on its way.");
    // On its own page the entry stays, without a count.
    expect(await page.getByRole("link", { name: "Not delivered", exact: true }).count()).toBe(1);
    await expectAccessible(page, "the Not delivered page, empty");
    await screenshots(page, "failures-page-empty");
    await page.goto(setup.aliceInbox);
    expect(await page.getByRole("link", { name: /^Not delivered/ }).count()).toBe(0);
    expect(await page.locator(".undelivered-note").count()).toBe(0);
    await expectAccessible(page, "the conversation list, all delivered");
    await page.locator("li.conversation", { hasText: "Lunch on Friday?" }).getByRole("link").click();
    expect(await lastChip().getAttribute("class")).toBe("delivery delivered");
    expect(await lastChip().locator(".state").textContent()).toBe("delivered");
    await expectAccessible(page, "the thread, delivered after Retry now");
  });

  it("another message, cancelled from its thread: shown cancelled, never delivered", { timeout: TIMEOUT }, async () => {
    await hosts.bob.pm.stop();
    await write("Never mind", "Forget what I said.");
    const chip = lastChip();
    await expect.poll(() => chip.locator(".state").textContent(), { timeout: 10_000 }).toBe("not delivered yet");
    await expectAccessible(page, "the thread of the message to cancel");
    await chip.getByRole("button", { name: `Cancel the message to ${bobHost()}` }).click();
    await page.waitForURL(/\/c\/[^/?]+\?notice=delivery-cancelled$/);
    expect(await page.locator("p.notice").textContent()).toBe("Cancelled: it will not be sent.");
    expect(await lastChip().getAttribute("class")).toBe("delivery failed cancelled");
    expect(await lastChip().locator(".state").textContent()).toBe("cancelled");
    expect(await lastChip().getByRole("button").count()).toBe(0);
    expect(await page.getByRole("link", { name: /^Not delivered/ }).count()).toBe(0);
    await expectAccessible(page, "the thread with a cancelled delivery");
    await screenshots(page, "failures-thread-cancelled");

    // bob's server comes back: nothing tries the cancelled delivery again.
    await hosts.bob.pm.resume();
    await hosts.alice.pm.pm.idle();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await hosts.alice.pm.pm.idle();
    expect(await bobGot()).not.toContain("Forget what I said.");
    expect((await hosts.alice.pm.pm.deliveryProblemCounts()).stuck).toBe(0);
  });
});
