/**
 * Issue 12 "Live", in real Chromium: an open conversation gets the other side's new
 * messages as they arrive, in order, without a reload, and reads them; the nav badge, the
 * tab title and the banner agree at every moment; browser notifications once the owner
 * allowed them (recorded by wrapping `window.Notification`); mute and block from the
 * conversation, with their confirmations and Undo. axe-core on every state visited.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { settled, waitFor, type FourHosts } from "../harness/hosts.js";
import { expectAccessible, screenshots, skipBrowserTests, watch } from "./chromium.js";
import { startInboxHosts, type InboxHosts } from "./inbox-hosts.js";

let setup: InboxHosts;
let hosts: FourHosts;
let alice: Page;
let aliceInbox: string;
let bobLabel: string;

const TIMEOUT = 90_000;

/** The three places that say how many messages are unread, as numbers (0: none shown; banner null: hidden). */
async function indicators(page: Page): Promise<{ badge: number; title: number; banner: number | null }> {
  return page.evaluate(() => {
    const badge = document.getElementById("unread-badge");
    const title = /^\((\d+)\) /.exec(document.title);
    const banner = document.getElementById("new-message")!;
    return {
      badge: badge ? Number((badge.textContent ?? "").replace(/\D/g, "")) : 0,
      title: title ? Number(title[1]) : 0,
      banner: banner.hidden ? null : Number(/(\d+) unread/.exec(banner.textContent ?? "")?.[1] ?? Number.NaN),
    };
  });
}

/** Waits until the indicators show `unread` (and the banner, when `banner`), checking at each look that they agree. */
async function expectIndicators(page: Page, unread: number, banner: boolean): Promise<void> {
  await waitFor(
    async () => {
      const seen = await indicators(page);
      // They agree at every look, on the way too: the badge and the title always, the banner whenever shown.
      expect(seen.title).toBe(seen.badge);
      if (seen.banner !== null) expect(seen.banner).toBe(seen.badge);
      return seen.badge === unread && (banner ? seen.banner === unread : seen.banner === null);
    },
    15_000,
    `${unread} unread${banner ? " with the banner" : ""}`,
  );
}

/** bob's engine writes to alice (a reply when `inReplyTo`), and waits for it to be delivered. */
async function bobWrites(content: string, extra: { subject?: string; inReplyTo?: string } = {}): Promise<string> {
  const sent = await hosts.bob.pm.pm.send({ from: hosts.bob.site.url, to: [hosts.alice.site.url], content, ...extra });
  await settled(hosts.bob.pm.pm, sent.message, 20_000);
  return sent.message;
}

/** alice's conversation (thread view, /c/ID) with this subject. */
async function openThread(page: Page, subject: string): Promise<void> {
  const conversation = (await hosts.alice.pm.pm.conversations({ site: hosts.alice.site.url })).find((c) => c.subject === subject);
  await page.goto(`${aliceInbox}c/${conversation!.id}`);
  await page.getByRole("heading", { name: subject }).waitFor();
}

/**
 * axe-core on the page as it stands, from its top: a thread opens scrolled to its newest
 * message, and the sticky header then covers the controls at the top, which axe counts as
 * targets too small (target-size) though no one can tap them there.
 */
async function accessible(page: Page, label: string): Promise<void> {
  await page.evaluate(() => window.scrollTo(0, 0));
  await expectAccessible(page, label);
}

async function bodies(page: Page): Promise<string[]> {
  return page.locator("ol.messages > li.message .body").allTextContents();
}

describe.skipIf(skipBrowserTests)("live inbox in Chromium (issue 12)", () => {
  let first: string;

  beforeAll(async () => {
    setup = await startInboxHosts();
    ({ hosts, aliceInbox } = setup);
    bobLabel = new URL(hosts.bob.site.url).host;
    // Every Notification the page constructs is recorded (the real one is still made).
    await setup.browser.context.addInitScript(() => {
      const Real = window.Notification;
      if (!Real) return;
      const seen: { title: string; body: string }[] = [];
      (window as unknown as { notificationsSeen: typeof seen }).notificationsSeen = seen;
      class Recorded extends Real {
        constructor(title: string, options?: NotificationOptions) {
          super(title, options);
          seen.push({ title, body: options?.body ?? "" });
        }
      }
      Object.defineProperty(Recorded, "permission", { get: () => Real.permission });
      Recorded.requestPermission = Real.requestPermission.bind(Real);
      window.Notification = Recorded as typeof Notification;
    });
    alice = await setup.browser.context.newPage();
    await setup.signIn(alice, aliceInbox, hosts.alice.site.url);
    first = await bobWrites("Shall we meet on Friday?", { subject: "Friday" });
  }, TIMEOUT);

  afterAll(async () => {
    await setup?.close();
  });

  it("an open conversation gets new messages in order, reads them, and the badge, title and banner agree", { timeout: TIMEOUT }, async () => {
    const seen = watch(alice);
    await alice.goto(aliceInbox);
    await expectIndicators(alice, 1, false);
    expect(await alice.title()).toMatch(/^\(1\) /); // from the first load, before any poll
    await accessible(alice, "inbox with one unread");
    await openThread(alice, "Friday");
    await expectIndicators(alice, 0, false); // opening reads it
    await alice.evaluate(() => ((window as unknown as { marker: number }).marker = 7));

    const second = await bobWrites("At the market, at ten?", { inReplyTo: first });
    await bobWrites("Or at eleven, if that suits you better.", { inReplyTo: second });
    await waitFor(async () => (await bodies(alice)).length === 3, 15_000, "the two new messages in the open thread");
    expect(await bodies(alice)).toEqual(["Shall we meet on Friday?", "At the market, at ten?", "Or at eleven, if that suits you better."]);
    expect(await alice.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(7); // no reload
    expect(await alice.locator("[data-live-total]").textContent()).toBe("3 messages");
    // Seen in the open, visible thread: read, on the page and on the server; nothing else says "new".
    await waitFor(async () => (await alice.locator("li.message.received.unread").count()) === 0, 10_000, "the new messages read");
    await waitFor(async () => (await hosts.alice.pm.pm.inboxStatus()).unread === 0, 10_000, "alice's unread count 0");
    await expectIndicators(alice, 0, false);
    await accessible(alice, "thread with messages appended live");
    await screenshots(alice, "live-thread");

    // A message of another conversation: the banner names it, with the badge and title.
    await bobWrites("Also: did you get the book I sent?", { subject: "The book" });
    await expectIndicators(alice, 1, true);
    expect(await alice.locator("#new-message").textContent()).toContain(`New message from ${bobLabel}`);
    expect(await alice.title()).toMatch(/^\(1\) Friday/);
    await accessible(alice, "thread with the new-message banner");
    await screenshots(alice, "live-banner");
    await alice.getByRole("link", { name: "Open the conversation" }).click();
    await alice.getByRole("heading", { name: "The book" }).waitFor();
    await expectIndicators(alice, 0, false); // read by opening: all three cleared
    expect(seen).toEqual({ dialogs: [], errors: [] });
  });

  it("more messages than one look brings arrive between two looks: none is skipped", { timeout: TIMEOUT }, async () => {
    const seen = watch(alice);
    await openThread(alice, "Friday");
    const before = (await bodies(alice)).length;
    // The page's looks are held while bob writes more than the live fragment holds (LIVE_ITEMS, 20).
    const held: import("playwright-core").Route[] = [];
    const looks = "**/status.json**";
    let holding = true;
    await alice.route(looks, (route) => (holding ? void held.push(route) : route.continue()));
    await waitFor(() => held.length > 0, 10_000, "the page's next look");
    const written: string[] = [];
    for (let i = 1; i <= 22; i++) {
      const text = `Note ${i} of 22.`;
      await bobWrites(text, { inReplyTo: first });
      written.push(text);
    }
    holding = false;
    for (const route of held) await route.continue();
    // The page is read again meanwhile (the fragment's gap): a look during that navigation counts as not yet.
    await waitFor(async () => (await bodies(alice).catch(() => [])).length === before + 22, 30_000, "all 22 messages on the page");
    await alice.waitForLoadState();
    expect((await bodies(alice)).slice(-22)).toEqual(written);
    await alice.unroute(looks);
    expect(seen).toEqual({ dialogs: [], errors: [] });
  });

  it("offers notifications on a click, then notifies each new message while the tab is hidden", { timeout: TIMEOUT }, async () => {
    await alice.goto(aliceInbox);
    const offer = alice.locator("#notify-offer");
    await offer.waitFor();
    expect(await alice.evaluate(() => Notification.permission)).toBe("default"); // nothing asked on load
    await accessible(alice, "inbox with the notification offer");
    await screenshots(alice, "live-notify-offer");
    await setup.browser.context.grantPermissions(["notifications"], { origin: new URL(aliceInbox).origin });
    await alice.getByRole("button", { name: "Notify me of new messages" }).click();
    await offer.getByText("Notifications are on").waitFor();
    await accessible(alice, "notifications turned on");

    // Hidden: another tab in front. Headless Chromium keeps every tab "visible", so the page is told it is hidden.
    await hideTab(alice);
    await bobWrites("Notification test: are you around?");
    const [note] = await waitFor(
      async () => {
        const list = await alice.evaluate(() => (window as unknown as { notificationsSeen: { title: string; body: string }[] }).notificationsSeen);
        return list.length > 0 ? list : undefined;
      },
      15_000,
      "a notification",
    );
    expect(note).toEqual({ title: bobLabel, body: "Notification test: are you around?" });
    await showTab(alice);
  });

  it("mutes bob from the conversation: his next message is listed but raises nothing; Undo counts it again", { timeout: TIMEOUT }, async () => {
    // What the notification test left unread is read first.
    for (const c of await hosts.alice.pm.pm.conversations({ site: hosts.alice.site.url })) await hosts.alice.pm.pm.markRead({ conversation: c.id }, true);
    await openThread(alice, "Friday");
    await expectIndicators(alice, 0, false);
    await alice.getByRole("button", { name: `Mute ${bobLabel}` }).click();
    await alice.locator(".people-notice", { hasText: `Muted ${bobLabel}.` }).waitFor();
    await alice.locator(".state-note.muted").waitFor();
    expect((await hosts.alice.pm.pm.settings(hosts.alice.site.url)).muted).toEqual([hosts.bob.site.url]);
    await accessible(alice, "thread after muting, with Undo");
    await screenshots(alice, "live-muted");

    await hideTab(alice);
    const before = await alice.evaluate(() => (window as unknown as { notificationsSeen: unknown[] }).notificationsSeen.length);
    await bobWrites("Muted but not lost", { subject: "Quiet one" });
    // Two polls later nothing was raised: no badge, title count or banner, no notification.
    await alice.waitForTimeout(2500);
    await expectIndicators(alice, 0, false);
    expect(await alice.evaluate(() => (window as unknown as { notificationsSeen: unknown[] }).notificationsSeen.length)).toBe(before);
    await showTab(alice);

    // Still listed, marked muted, unread inside.
    await alice.goto(aliceInbox);
    const row = alice.locator("li.conversation.muted.unread", { hasText: "Quiet one" });
    await row.waitFor();
    expect(await row.locator(".tag").textContent()).toBe("muted");
    await expectIndicators(alice, 0, false);
    await accessible(alice, "inbox with a muted row");
    await screenshots(alice, "live-muted-list");

    // Undo, from the conversation: the muted message counts again.
    await openThread(alice, "Friday");
    await alice.getByRole("button", { name: `Unmute ${bobLabel}` }).click();
    await alice.locator(".people-notice", { hasText: `Unmuted ${bobLabel}.` }).waitFor();
    await expectIndicators(alice, 1, false);
    expect((await hosts.alice.pm.pm.settings(hosts.alice.site.url)).muted).toEqual([]);
    await accessible(alice, "thread after unmuting");
  });

  it("blocks bob from the conversation: his next message is refused (403 forbidden on the wire), said in plain words", { timeout: TIMEOUT }, async () => {
    await openThread(alice, "Friday");
    await alice.locator("summary", { hasText: "Block" }).click();
    await accessible(alice, "the block confirmation open");
    await alice.getByRole("button", { name: `Block ${bobLabel}`, exact: true }).click();
    const notice = alice.locator(".people-notice", { hasText: `Blocked ${bobLabel}.` });
    await notice.waitFor();
    expect(await notice.textContent()).toContain("Their new messages are refused; they are not told.");
    expect(await alice.locator(".state-note.blocked").textContent()).toContain(`new messages from ${bobLabel} are refused`);
    const page = await alice.locator("main").textContent();
    expect(page).not.toMatch(/\b403\b|forbidden|§/);
    expect((await hosts.alice.pm.pm.settings(hosts.alice.site.url)).blocked).toEqual([hosts.bob.site.url]);
    await accessible(alice, "thread after blocking");
    await screenshots(alice, "live-blocked");

    const sent = await hosts.bob.pm.pm.send({ from: hosts.bob.site.url, to: [hosts.alice.site.url], content: "Blocked, surely?" });
    const settledSent = await settled(hosts.bob.pm.pm, sent.message, 20_000);
    expect(settledSent.deliveries.map((d) => [d.status, d.error])).toEqual([["failed", "forbidden"]]);
    expect((await hosts.alice.pm.pm.inbox()).map((m) => m.content)).not.toContain("Blocked, surely?");

    // Undo: unblocked.
    await notice.getByRole("button", { name: "Undo" }).click();
    await alice.locator(".people-notice", { hasText: `Unblocked ${bobLabel}.` }).waitFor();
    expect((await hosts.alice.pm.pm.settings(hosts.alice.site.url)).blocked).toEqual([]);
    await accessible(alice, "thread after unblocking");
  });

  it("the page of a person gets new messages live too, with Mute and Block in its header", { timeout: TIMEOUT }, async () => {
    for (const c of await hosts.alice.pm.pm.conversations({ site: hosts.alice.site.url })) await hosts.alice.pm.pm.markRead({ conversation: c.id }, true);
    const chats = await hosts.alice.pm.pm.chatsPage({ site: hosts.alice.site.url });
    const chat = chats.items.find((c) => c.people.length === 1 && c.people[0] === hosts.bob.site.url)!;
    await alice.goto(`${aliceInbox}p/${chat.id}`);
    await alice.getByRole("button", { name: `Mute ${bobLabel}` }).waitFor();
    const before = (await bodies(alice)).length;
    await alice.evaluate(() => ((window as unknown as { marker: number }).marker = 9));
    await bobWrites("Seen on my page, without a reload");
    await waitFor(async () => (await bodies(alice)).length === before + 1, 15_000, "the new message on the person page");
    expect((await bodies(alice)).at(-1)).toBe("Seen on my page, without a reload");
    expect(await alice.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(9);
    await waitFor(async () => (await hosts.alice.pm.pm.inboxStatus()).unread === 0, 10_000, "read where it was seen");
    await expectIndicators(alice, 0, false);
    // Ids stay unique on the page (the appended item's from the fragment).
    expect(await alice.evaluate(() => new Set([...document.querySelectorAll("[id]")].map((e) => e.id)).size === document.querySelectorAll("[id]").length)).toBe(
      true,
    );
    await accessible(alice, "person page with a message appended live");
    await screenshots(alice, "live-person");
    await alice.getByRole("button", { name: `Mute ${bobLabel}` }).click();
    await alice.locator(".people-notice", { hasText: `Muted ${bobLabel}.` }).waitFor();
    expect(new URL(alice.url()).pathname).toBe(`/p/${chat.id}`);
    await alice.locator(".people-notice").getByRole("button", { name: "Undo" }).click();
    await alice.locator(".people-notice", { hasText: `Unmuted ${bobLabel}.` }).waitFor();
    await accessible(alice, "person page after Undo");

    // Muted again, then unmuted from Settings, where every muted site is listed.
    await alice.getByRole("button", { name: `Mute ${bobLabel}` }).click();
    await alice.locator(".people-notice", { hasText: `Muted ${bobLabel}.` }).waitFor();
    await alice.goto(`${aliceInbox}settings`);
    const section = alice.locator("section", { has: alice.getByRole("heading", { name: "Muted" }) });
    expect(await section.locator(".sites").textContent()).toContain(bobLabel);
    await accessible(alice, "settings with a muted site");
    await screenshots(alice, "live-settings-muted");
    await section.getByRole("button", { name: `Unmute ${bobLabel}` }).click();
    await alice.locator(".people-notice", { hasText: `Unmuted ${bobLabel}.` }).waitFor();
    expect(new URL(alice.url()).pathname).toBe("/settings");
    expect(await section.textContent()).toContain("Nobody is muted.");
    expect((await hosts.alice.pm.pm.settings(hosts.alice.site.url)).muted).toEqual([]);
    await accessible(alice, "settings after unmuting");
  });
});

/**
 * The tab in the background. Headless Chromium reports every tab as visible whichever is in
 * front (checked: `bringToFront` of another page leaves `document.visibilityState` "visible"),
 * so the page is told, as a browser does, by `visibilityState` and a `visibilitychange` event.
 */
async function hideTab(page: Page): Promise<void> {
  await page.evaluate(() => {
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
    Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
    document.dispatchEvent(new Event("visibilitychange"));
  });
}

async function showTab(page: Page): Promise<void> {
  await page.evaluate(() => {
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "visible" });
    Object.defineProperty(document, "hidden", { configurable: true, get: () => false });
    document.dispatchEvent(new Event("visibilitychange"));
  });
}
