/**
 * Issue 12, Settings, in real Chromium: a refused form comes back by a redirect with the
 * error beside its field and the value kept (a reload posts nothing); the token table
 * reads on a phone and each Revoke names its site; the webhook can be tested from the
 * page, and its last failure shows. axe-core on every state; screenshots of each view.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLoopbackServer, type LoopbackServer } from "@indiepm/test-support";
import type { FourHosts } from "../harness/hosts.js";
import { expectAccessible, screenshots as shoot, skipBrowserTests, watch } from "./chromium.js";
import { startInboxHosts, type InboxHosts } from "./inbox-hosts.js";

const TIMEOUT = 60_000;
let setup: InboxHosts;
let hosts: FourHosts;
let page: Page;
let settingsUrl: string;

/** A webhook receiver on loopback answering `status`, counting what it was sent. */
async function receiver(status: number): Promise<LoopbackServer & { bodies: Record<string, unknown>[] }> {
  const bodies: Record<string, unknown>[] = [];
  const server = await startLoopbackServer((req, res) => {
    let text = "";
    req.on("data", (c: Buffer) => (text += c.toString()));
    req.on("end", () => {
      bodies.push(JSON.parse(text));
      res.writeHead(status).end();
    });
  });
  return Object.assign(server, { bodies });
}

/** Screenshots from the top of the page (a field's autofocus scrolls it; a sticky header would be drawn mid-page). */
async function screenshots(p: Page, name: string): Promise<void> {
  await p.evaluate(() => window.scrollTo(0, 0));
  await shoot(p, name);
}

/** The POSTs the page makes to the inbox's settings forms (a reload that re-submits would add one). */
function countPosts(p: Page): () => number {
  let n = 0;
  p.on("request", (r) => {
    if (r.method() === "POST" && new URL(r.url()).pathname.includes("/settings/")) n++;
  });
  return () => n;
}

describe.skipIf(skipBrowserTests)("settings in Chromium (issue 12)", () => {
  const receivers: LoopbackServer[] = [];

  beforeAll(async () => {
    setup = await startInboxHosts();
    hosts = setup.hosts;
    page = await setup.browser.context.newPage();
    await page.goto(setup.aliceInbox);
    await expectAccessible(page, "the sign-in page");
    await setup.signIn(page, setup.aliceInbox, hosts.alice.site.url);
    settingsUrl = `${setup.aliceInbox}settings`;
  }, TIMEOUT);

  afterAll(async () => {
    for (const r of receivers) await r.close();
    await setup?.close();
  });

  it("a bad contact address: the error beside the field, the value kept, focus on it; a reload posts nothing", { timeout: TIMEOUT }, async () => {
    const seen = watch(page);
    const posts = countPosts(page);
    await page.goto(settingsUrl);
    await expectAccessible(page, "the settings page");
    await page.getByLabel("Add a contact").fill("not a site!!");
    await page.getByRole("button", { name: "Add", exact: true }).click();
    await page.waitForURL(/\/settings\?flash=/);
    expect(posts()).toBe(1);

    const field = page.getByLabel("Add a contact");
    expect(await field.inputValue()).toBe("not a site!!");
    expect(await field.getAttribute("aria-invalid")).toBe("true");
    // Its accessible description is the error: a screen reader says it with the field.
    const describedBy = (await field.getAttribute("aria-describedby"))!;
    expect(await page.locator(`#${describedBy}`).textContent()).toBe("Error: not a site!! is not a site address.");
    // The error sits right under the field, and the field has the focus.
    const fieldBox = (await field.boundingBox())!;
    const errorBox = (await page.locator(`#${describedBy}`).boundingBox())!;
    expect(errorBox.y - (fieldBox.y + fieldBox.height)).toBeLessThan(40);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("contact");
    expect(await page.title()).toBe("Error: Settings · indiepm");
    await expectAccessible(page, "the settings page with an error beside the contact field");
    await screenshots(page, "settings-field-error");

    // Reloading is a GET of the settings page: nothing is posted again, and the error is gone (said once).
    const reload = await page.reload();
    expect(reload!.request().method()).toBe("GET");
    expect(posts()).toBe(1);
    expect(await page.getByLabel("Add a contact").getAttribute("aria-invalid")).toBeNull();
    expect(await page.locator(".field-error").count()).toBe(0);
    await expectAccessible(page, "the settings page reloaded");

    // Corrected, it is saved and the page says so.
    await page.getByLabel("Add a contact").fill("carol.example");
    await page.getByRole("button", { name: "Add", exact: true }).click();
    await page.waitForURL(/\/settings\?notice=saved$/);
    await page.getByText("Saved.").waitFor();
    expect((await hosts.alice.pm.pm.settings(hosts.alice.site.url)).contacts).toContain("https://carol.example/");
    await expectAccessible(page, "the settings page after saving");
    expect(seen).toEqual({ dialogs: [], errors: [] });
  });

  it("the token table reads on a phone, and each Revoke is named after its site", { timeout: TIMEOUT }, async () => {
    const granted = "https://a-rather-long-site-name.example.com/~someone/";
    await hosts.alice.pm.store.insert("secrets", {
      _id: "7".repeat(64),
      kind: "standing-token",
      sender: granted,
      recipient: hosts.alice.site.url,
      createdAt: Date.UTC(2026, 11, 1, 9),
      expiresAt: Date.UTC(2027, 11, 1, 9),
    });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(settingsUrl);
    const revoke = page.getByRole("button", { name: "Revoke token for a-rather-long-site-name.example.com/~someone" });
    await revoke.waitFor();
    // Not named after the token's hash.
    expect(await page.getByRole("button", { name: /7777/ }).count()).toBe(0);
    // One line: "Revoke" is not broken into "Revo ke", and nothing scrolls sideways.
    const box = (await revoke.boundingBox())!;
    const lineHeight = await revoke.evaluate((b) => Number.parseFloat(getComputedStyle(b).lineHeight) || Number.parseFloat(getComputedStyle(b).fontSize) * 1.3);
    const padding = await revoke.evaluate((b) => Number.parseFloat(getComputedStyle(b).paddingTop) + Number.parseFloat(getComputedStyle(b).paddingBottom) + 2);
    expect(box.height).toBeLessThanOrEqual(lineHeight + padding + 1);
    expect(await revoke.evaluate((b) => b.scrollWidth <= b.clientWidth)).toBe(true);
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth)).toBe(true);
    // Each value keeps its column's name beside it.
    const row = page.locator("table.tokens tbody tr").first();
    expect(await row.locator("td[data-label=Expires]").evaluate((td) => getComputedStyle(td, "::before").content)).toBe('"Expires"');
    await expectAccessible(page, "the settings page at phone width with a token");
    await page.setViewportSize({ width: 1280, height: 860 });
    await screenshots(page, "settings-tokens");

    await revoke.click();
    await page.waitForURL(/\/settings\?notice=revoked$/);
    await page.getByText("Token revoked: that site has to ask again before it can deliver.").waitFor();
    expect((await hosts.alice.pm.pm.tokens())[0]!.revokedAt).toBeDefined();
    await expectAccessible(page, "the settings page after revoking");
  });

  it("sends a test to the webhook and shows what it answered", { timeout: TIMEOUT }, async () => {
    const good = await receiver(204);
    const bad = await receiver(500);
    receivers.push(good, bad);
    await page.goto(settingsUrl);
    // No webhook yet: nothing to test.
    expect(await page.getByRole("button", { name: "Send a test" }).count()).toBe(0);

    await page.getByLabel("Webhook URL").fill(`${good.url}hook`);
    await page
      .locator("form", { has: page.locator("#webhook") })
      .getByRole("button", { name: "Save" })
      .click();
    await page.waitForURL(/notice=webhook-saved$/);
    await page.getByText("Saved. Send a test to check that your webhook takes it.").waitFor();
    await page.getByRole("button", { name: "Send a test" }).click();
    await page.waitForURL(/\/settings\?flash=/);
    await page.getByText(/^Test sent: your webhook answered 204 in \d+ ms\.$/).waitFor();
    // Focus is on the result (below the fold on a phone): it is read out, and in view.
    expect(await page.evaluate(() => document.activeElement?.classList.contains("result"))).toBe(true);
    expect(good.bodies).toEqual([{ type: "test", recipient: hosts.alice.site.url, sentAt: expect.any(String), excerpt: expect.any(String) }]);
    await expectAccessible(page, "the settings page after a test that got through");
    await screenshots(page, "settings-webhook-test-ok");

    await page.getByLabel("Webhook URL").fill(`${bad.url}hook`);
    await page
      .locator("form", { has: page.locator("#webhook") })
      .getByRole("button", { name: "Save" })
      .click();
    await page.waitForURL(/notice=webhook-saved$/);
    await page.getByRole("button", { name: "Send a test" }).click();
    await page.waitForURL(/\/settings\?flash=/);
    const failed = page.locator(".result.failed");
    await failed.waitFor();
    expect(await failed.locator("p").first().textContent()).toBe("The test did not get through. Your webhook answered with an error (500).");
    // The code is there for the curious, in a details line.
    await failed.getByText("Details").click();
    await failed.getByText("server_error: The webhook answered 500.").waitFor();
    expect(bad.bodies).toHaveLength(1);
    await expectAccessible(page, "the settings page after a test that failed");
    await screenshots(page, "settings-webhook-test-failed");
  });

  it("shows the webhook's last failure from its queued notifications", { timeout: TIMEOUT }, async () => {
    const gone = await receiver(404);
    receivers.push(gone);
    await hosts.alice.pm.pm.updateSettings(hosts.alice.site.url, { webhook: `${gone.url}hook` });
    await page.goto(settingsUrl);
    expect(await page.locator("#webhook-failure").count()).toBe(0);

    // A message arrives; its notification is answered 404 and given up.
    await hosts.bob.pm.pm.send({ from: hosts.bob.site.url, to: [hosts.alice.site.url], content: "Is the webhook on?" });
    await hosts.idle();
    expect(gone.bodies.map((b) => b.type)).toEqual(["message"]);
    await page.reload();
    const failure = page.locator("#webhook-failure");
    await failure.waitFor();
    // When (the reader's time, by app.js), why in plain words, and that it was given up.
    expect(await failure.locator("p").first().textContent()).toMatch(
      /^Last failure .+: Your webhook answered with an error \(404\)\. That notification was given up\.$/,
    );
    await failure.getByText("Details").click();
    await failure.getByText("bad_response: The webhook answered 404.").waitFor();
    await expectAccessible(page, "the settings page with the webhook's last failure");
    await screenshots(page, "settings-webhook-failure");

    // Another webhook URL saved: that failure was of the old one, and is not shown.
    const other = await receiver(204);
    receivers.push(other);
    await page.getByLabel("Webhook URL").fill(`${other.url}hook`);
    await page
      .locator("form", { has: page.locator("#webhook") })
      .getByRole("button", { name: "Save" })
      .click();
    await page.waitForURL(/notice=webhook-saved$/);
    expect(await page.locator("#webhook-failure").count()).toBe(0);
    await expectAccessible(page, "the settings page after the webhook was changed");
  });
});
