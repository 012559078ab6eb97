/**
 * The owner's web inbox in real headless Chromium (issue 5): alice's pm server is the
 * standalone kind (inbox at its root), bob's an Express app with `indiepmInbox()` at
 * /inbox/; both sites name an IndieAuth authorization server on loopback. Signing in,
 * writing, live delivery status, replying, blocking, keyboard-only compose, the OWASP
 * XSS filter-evasion payloads, and a cross-origin form. Screenshots go to
 * artifacts/screenshots/.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLoopbackServer } from "@indiepm/test-support";
import { settled, waitFor, type FourHosts } from "../harness/hosts.js";
import { expectAccessible, screenshots, skipBrowserTests, watch, type LaunchedBrowser } from "./chromium.js";
import { startInboxHosts, type InboxHosts } from "./inbox-hosts.js";

let setup: InboxHosts;
let hosts: FourHosts;
let browser: LaunchedBrowser;
let aliceInbox: string;
let bobInbox: string;
let alice: Page;
let bob: Page;

const TIMEOUT = 60_000;

/** Sign in through the inbox's form, the authorization server's page, and back to the list. */
async function signIn(page: Page, inboxUrl: string, site: string): Promise<void> {
  await page.goto(inboxUrl);
  await setup.signIn(page, inboxUrl, site);
  await page.getByRole("heading", { name: "Conversations" }).waitFor();
}

/** Text of the delivery chips of the last sent message on a thread page. */
async function lastDelivery(page: Page): Promise<string> {
  return (await page.locator("li.message.sent .deliveries").last().textContent()) ?? "";
}

describe.skipIf(skipBrowserTests)("web inbox in Chromium", () => {
  beforeAll(async () => {
    setup = await startInboxHosts();
    ({ hosts, browser, aliceInbox, bobInbox } = setup);
    alice = await browser.context.newPage();
    bob = await browser.context.newPage();
  }, TIMEOUT);

  afterAll(async () => {
    await setup?.close();
  });

  it("signs each owner in with IndieAuth through an authorization server on loopback", { timeout: TIMEOUT }, async () => {
    await alice.goto(aliceInbox);
    expect(await alice.locator("input[name=me]").count()).toBe(1);
    await expectAccessible(alice, "the sign-in page");
    await screenshots(alice, "sign-in");
    await signIn(alice, aliceInbox, hosts.alice.site.url);
    await expectAccessible(alice, "alice's empty conversation list");
    await signIn(bob, bobInbox, hosts.bob.site.url);
    await expectAccessible(bob, "bob's empty conversation list (Express, under /inbox/)");
    // Both sessions live side by side in one browser (cookies are named per inbox).
    await alice.reload();
    await alice.getByRole("heading", { name: "Conversations" }).waitFor();
    const cookies = await browser.context.cookies();
    const sessions = cookies.filter((c) => c.name.startsWith("indiepm_session_"));
    expect(sessions).toHaveLength(2);
    for (const c of sessions) expect(c).toMatchObject({ httpOnly: true, sameSite: "Lax" });
  });

  it("writes to the other site, shows the delivery live, and the reply makes one thread on both sides", { timeout: TIMEOUT }, async () => {
    const seen = watch(alice);
    // bob's server is down for a moment: the delivery stays pending and the page must update by itself.
    await hosts.bob.pm.stop();
    await alice.getByRole("link", { name: "Write", exact: true }).first().click();
    await alice.getByLabel("To").fill(hosts.bob.site.url);
    await alice.getByLabel("Subject").fill("Picnic on Saturday?");
    await alice.getByLabel("Message", { exact: true }).fill("Hi Bob,\n\nShall we have a picnic on Saturday?\n\nAlice");
    await expectAccessible(alice, "compose, filled in");
    await screenshots(alice, "compose");
    await alice.getByRole("button", { name: "Send", exact: true }).click();
    await alice.waitForURL(/\/c\/[A-Za-z0-9_-]+\?notice=sent$/);
    expect(await lastDelivery(alice)).toContain("sending…");
    await expectAccessible(alice, "a thread with its delivery pending");
    await alice.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    await hosts.bob.pm.resume();
    await alice.locator("li.message.sent .delivery.delivered").waitFor({ timeout: 20_000 });
    expect(await alice.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(42); // no reload: live
    expect(await lastDelivery(alice)).toContain("delivered");
    await expectAccessible(alice, "a thread with its delivery shown delivered live");

    // It arrives at bob's: unread in his list, and the new-message banner on his open page.
    await bob.locator("#new-message:not([hidden])").waitFor({ timeout: 10_000 });
    await expectAccessible(bob, "the list with the new-message banner");
    await bob.goto(bobInbox);
    const row = bob.locator("li.conversation.unread", { hasText: "Picnic on Saturday?" });
    await row.waitFor();
    await expectAccessible(bob, "the list with an unread conversation");
    await screenshots(bob, "inbox");
    await row.locator("a").click();
    await bob.getByRole("heading", { name: "Picnic on Saturday?" }).waitFor();
    await expectAccessible(bob, "a received thread with the reply form");
    await bob.getByLabel("Your reply").fill("Saturday works. I'll bring the lemonade.");
    await bob.getByRole("button", { name: "Send reply" }).click();
    await bob.locator("li.message.sent .delivery.delivered").waitFor({ timeout: 20_000 });
    await expectAccessible(bob, "a thread after replying");
    await screenshots(bob, "thread");

    // alice's side: the same thread, in order, read from her inbox.
    await alice.goto(aliceInbox);
    const aliceRow = alice.locator("li.conversation", { hasText: "Picnic on Saturday?" });
    await aliceRow.locator("a").click();
    const bodies = await alice.locator("li.message .body").allTextContents();
    expect(bodies).toEqual(["Hi Bob,\n\nShall we have a picnic on Saturday?\n\nAlice", "Saturday works. I'll bring the lemonade."]);
    expect(await alice.locator("li.message").evaluateAll((els) => els.map((e) => e.className))).toEqual(["message sent", "message received"]);
    await expectAccessible(alice, "a thread of a sent message and its reply");
    const bobBodies = await bob.locator("li.message .body").allTextContents();
    expect(bobBodies).toEqual(bodies);
    // The reply went to the thread's participants and no one else.
    const [reply] = await hosts.bob.pm.pm.outbox();
    expect(reply!.deliveries.map((d) => d.recipient)).toEqual([hosts.alice.site.url]);
    expect(seen).toEqual({ dialogs: [], errors: [] });
  });

  it("composes with the keyboard alone", { timeout: TIMEOUT }, async () => {
    await alice.goto(aliceInbox);
    const focusedId = () => alice.evaluate(() => document.activeElement?.id ?? "");
    const focusedText = () => alice.evaluate(() => document.activeElement?.textContent?.trim() ?? "");
    const tabUntil = async (test: () => Promise<boolean>, what: string) => {
      for (let i = 0; i < 40; i++) {
        await alice.keyboard.press("Tab");
        if (await test()) return;
      }
      throw new Error(`Tab never reached ${what}`);
    };
    await tabUntil(async () => (await focusedText()) === "Write", "the Write link");
    await alice.keyboard.press("Enter");
    await alice.waitForURL(/\/compose$/);
    await expectAccessible(alice, "the empty compose page");
    await tabUntil(async () => (await focusedId()) === "to", "the To field");
    await alice.keyboard.type(hosts.bob.site.url);
    await tabUntil(async () => (await focusedId()) === "subject", "the Subject field");
    await alice.keyboard.type("Typed without a mouse");
    await tabUntil(async () => (await focusedId()) === "content", "the Message field");
    await alice.keyboard.type("Every key was pressed on the keyboard.");
    // Focus is visible where it is.
    expect(await alice.evaluate(() => document.activeElement!.matches(":focus-visible") && getComputedStyle(document.activeElement!).outlineStyle)).toBe(
      "solid",
    );
    await tabUntil(async () => (await focusedText()) === "Send", "the Send button");
    await alice.keyboard.press("Enter");
    await alice.waitForURL(/\/c\/[A-Za-z0-9_-]+\?notice=sent$/);
    await alice.locator("li.message.sent .delivery.delivered").waitFor({ timeout: 20_000 });
    expect((await hosts.bob.pm.pm.inbox()).map((m) => m.name)).toContain("Typed without a mouse");
  });

  it("shows received OWASP XSS filter-evasion payloads as text: no script runs, no dialog, no console error", { timeout: 2 * TIMEOUT }, async () => {
    const before = (await hosts.alice.pm.pm.inbox()).length;
    /** bob sends one payload as subject, text and HTML (a reply when `inReplyTo`). */
    const bobSends = (payload: string, inReplyTo?: string) =>
      hosts.bob.pm.pm.send({
        from: hosts.bob.site.url,
        to: [hosts.alice.site.url],
        subject: payload,
        content: payload,
        html: payload,
        ...(inReplyTo ? { inReplyTo } : {}),
      });
    const first = await bobSends(PAYLOADS[0]!);
    await settled(hosts.bob.pm.pm, first.message);
    for (const payload of PAYLOADS.slice(1)) await bobSends(payload, first.message);
    await waitFor(async () => (await hosts.alice.pm.pm.inbox()).length >= before + PAYLOADS.length, 30_000, "the payloads to arrive");

    /** Mouse-over, focus and toggle everything in `selector`, so that a handler that slipped through would fire; then nothing ran, loaded or submits. */
    async function expectInert(page: Page, seen: ReturnType<typeof watch>, selector: string, label: string): Promise<void> {
      await page.locator(selector).evaluateAll((roots) => {
        for (const el of roots.flatMap((r) => [r, ...r.querySelectorAll("*")])) {
          for (const type of ["mouseover", "mouseenter", "focus", "toggle", "load", "error"]) el.dispatchEvent(new Event(type, { bubbles: true }));
        }
      });
      await page.waitForTimeout(500);
      const issues = await page.evaluate(inspectDom);
      expect(issues, `${label}: ${issues.join("\n")}`).toEqual([]);
      expect(seen, label).toEqual({ dialogs: [], errors: [] });
      // From the page's top (as test/browser/live.test.ts): scrolled to the newest message, the
      // sticky header covers controls above it, which axe counts as targets too small.
      await page.evaluate(() => window.scrollTo(0, 0));
      await expectAccessible(page, label);
    }

    for (const [page, inbox, label] of [
      [alice, aliceInbox, "received"],
      [bob, bobInbox, "sent"],
    ] as const) {
      const seen = watch(page);
      // The default view, by person (issue 12): the row shows the latest payload, as text.
      await page.goto(inbox);
      const row = page.locator("li.conversation.chat").first();
      await row.waitFor();
      expect(await row.textContent()).toContain(`alert("XSS")`);
      await expectInert(page, seen, "li.conversation", `${label}: the list by person with XSS payloads`);
      // Its person page (issue 12): every payload there, each a message.
      await row.locator("a").click();
      await page.waitForURL(/\/p\/[A-Za-z0-9_-]+/);
      await page
        .locator("li.message")
        .nth(PAYLOADS.length - 1)
        .waitFor();
      await expectInert(page, seen, "li.message .body", `${label}: a person page of XSS payloads`);
      expect(await page.locator("main").textContent()).toContain(`alert("XSS")`);
      // The list by thread and the thread.
      await page.goto(`${inbox}?view=threads`);
      const conversation = page.locator("li.conversation").first();
      await conversation.waitFor();
      await expectInert(page, seen, "li.conversation", `${label}: the list by thread with XSS payloads`);
      await conversation.locator("a").click();
      await page.waitForURL(/\/c\/[A-Za-z0-9_-]+/);
      await page
        .locator("li.message")
        .nth(PAYLOADS.length - 1)
        .waitFor();
      await expectInert(page, seen, "li.message .body", `a thread of ${label} XSS payloads`);
      if (label === "received") await screenshots(page, "xss-thread");
      // The text of each payload is there to read, as text.
      const text = await page.locator("main").textContent();
      expect(text).toContain(`alert("XSS")`);
    }

    // Live (issue 12): payloads arriving while alice has the thread open, then her person page
    // open, are appended by app.js (each round within the live fragment's 20), no reload.
    const seen = watch(alice);
    const rounds = [PAYLOADS.slice(0, PAYLOADS.length / 2), PAYLOADS.slice(PAYLOADS.length / 2)];
    for (const [i, round] of rounds.entries()) {
      // Each page loaded afresh: axe-core (run on the page above) leaves style="" on what it looked at.
      if (i === 0) await alice.goto(alice.url());
      else {
        await alice.goto(aliceInbox);
        await alice.locator("li.conversation.chat").first().locator("a").click();
        await alice.waitForURL(/\/p\/[A-Za-z0-9_-]+/);
      }
      const where = i === 0 ? "thread" : "person page";
      const shown = await alice.locator("li.message").count();
      await alice.evaluate(() => ((window as unknown as { marker: number }).marker = 12));
      for (const payload of round) await bobSends(payload, first.message);
      await waitFor(async () => (await alice.locator("li.message").count()) >= shown + round.length, 30_000, `the payloads appended to the open ${where}`);
      expect(await alice.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(12); // no reload: appended live
      await expectInert(alice, seen, "li.message .body", `XSS payloads appended live to the open ${where}`);
      expect(await alice.locator("li.message").count()).toBe(shown + round.length);
    }
  });

  it("opening a conversation: the GET changes nothing; the page's script posts Mark read", { timeout: TIMEOUT }, async () => {
    const sent = await hosts.bob.pm.pm.send({
      from: hosts.bob.site.url,
      to: [hosts.alice.site.url],
      subject: "Read me by script",
      content: "Marked read when opened.",
    });
    expect((await settled(hosts.bob.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
    const conversation = (await hosts.alice.pm.pm.conversations({ q: "Read me by script" }))[0]!;
    expect(conversation.unread).toBe(1);
    // The same GET a browser makes, with alice's session, but no script run: nothing changes.
    const get = await alice.request.get(`${aliceInbox}c/${conversation.id}`);
    expect(get.status()).toBe(200);
    expect(await get.text()).toContain("data-auto-read");
    expect((await hosts.alice.pm.pm.thread(conversation.id))!.unread).toBe(1);
    // In the page, app.js posts the "Mark read" form; its button then offers "Mark unread".
    const seen = watch(alice);
    await alice.goto(`${aliceInbox}c/${conversation.id}`);
    await alice.locator(".thread-actions button", { hasText: "Mark unread" }).waitFor({ timeout: 10_000 });
    expect((await hosts.alice.pm.pm.thread(conversation.id))!.unread).toBe(0);
    expect(await alice.locator("li.message.unread").count()).toBe(0);
    await expectAccessible(alice, "a thread read by its script");
    expect(seen).toEqual({ dialogs: [], errors: [] });
  });

  it("blocks a site from the settings page; its next message is refused with 403", { timeout: TIMEOUT }, async () => {
    await bob.goto(`${bobInbox}settings`);
    await bob.getByLabel("Block a site").fill(hosts.alice.site.url);
    await bob.getByRole("button", { name: "Block", exact: true }).click();
    await bob.waitForURL(/notice=saved/);
    expect(await bob.locator("section", { hasText: "Blocked sites" }).locator(".sites").textContent()).toContain(new URL(hosts.alice.site.url).host);
    await expectAccessible(bob, "settings with a blocked site");
    await screenshots(bob, "settings");

    await alice.goto(`${aliceInbox}compose`);
    await alice.getByLabel("To").fill(hosts.bob.site.url);
    await alice.getByLabel("Message", { exact: true }).fill("Are you there?");
    await alice.getByRole("button", { name: "Send", exact: true }).click();
    await alice.locator("li.message.sent .delivery.failed").waitFor({ timeout: 20_000 });
    expect(await lastDelivery(alice)).toContain("failed (forbidden)");
    await expectAccessible(alice, "a thread with a failed delivery");
    expect((await hosts.bob.pm.pm.inbox()).map((m) => m.content)).not.toContain("Are you there?");
  });

  it("refuses a form posted from another origin", { timeout: TIMEOUT }, async () => {
    const evil = await startLoopbackServer((_req, res) => {
      res.setHeader("content-type", "text/html; charset=utf-8");
      res.end(`<!doctype html><title>Win a prize</title>
<form method="post" action="${aliceInbox}settings/blocked/add"><input type="hidden" name="site" value="${hosts.bob.site.url}"><input type="hidden" name="csrf" value="guessed"><button>Claim</button></form>
<form method="post" action="${aliceInbox}compose"><input type="hidden" name="to" value="${hosts.bob.site.url}"><input type="hidden" name="content" value="forged"><button>Claim more</button></form>`);
    });
    try {
      const page = await browser.context.newPage();
      const origin = evil.url;
      for (const button of ["Claim", "Claim more"]) {
        await page.goto(origin);
        const [response] = await Promise.all([
          page.waitForResponse((r) => r.url().startsWith(aliceInbox)),
          page.getByRole("button", { name: button, exact: true }).click(),
        ]);
        expect(response.status()).toBe(403);
        await page.getByText("cross-site request refused").waitFor();
        await expectAccessible(page, "the refused-form page (403)");
      }
      await page.close();
      expect((await hosts.alice.pm.pm.settings(hosts.alice.site.url)).blocked).toEqual([]);
      expect((await hosts.alice.pm.pm.outbox()).map((m) => m.content)).not.toContain("forged");
    } finally {
      await evil.close();
    }
  });

  it("every other page state passes axe-core: not found, a missing conversation, signed out, a sign-in refused", { timeout: TIMEOUT }, async () => {
    const page = await browser.context.newPage();
    expect((await page.goto(`${aliceInbox}no-such-page`))!.status()).toBe(404);
    await expectAccessible(page, "not found");
    expect((await page.goto(`${aliceInbox}c/no-such-conversation`))!.status()).toBe(404);
    await expectAccessible(page, "a conversation that is not there");
    await page.close();
    // bob signs out (the last test: nothing after it needs his session), then names a site this server does not hold.
    await bob.goto(bobInbox);
    await bob.getByRole("button", { name: "Sign out" }).click();
    await bob.getByText("You are signed out.").waitFor();
    await expectAccessible(bob, "signed out");
    await bob.getByLabel("Your site").fill("https://not-held-here.example/");
    await bob.getByRole("button", { name: "Sign in" }).click();
    await bob.locator(".error").waitFor();
    await expectAccessible(bob, "the sign-in page with an error");
  });
});

/** In the page: everything that could run script, load something, or submit somewhere, outside the inbox's own. */
function inspectDom(): string[] {
  const issues: string[] = [];
  for (const s of document.querySelectorAll("script"))
    if (!/\/static\/app\.js$/.test(s.getAttribute("src") ?? "")) issues.push(`script: ${s.outerHTML.slice(0, 120)}`);
  for (const el of document.querySelectorAll("*")) {
    for (const attr of el.attributes) {
      if (/^on/i.test(attr.name)) issues.push(`handler ${attr.name} on <${el.tagName}>`);
      if (/^(href|src|action|formaction|background|data|poster|xlink:href)$/i.test(attr.name) && /^\s*(javascript|vbscript|data):/i.test(attr.value)) {
        issues.push(`${attr.name}=${attr.value.slice(0, 60)} on <${el.tagName}>`);
      }
      if (attr.name === "style") issues.push(`style on <${el.tagName}>`);
    }
  }
  for (const body of document.querySelectorAll(".body")) {
    for (const el of body.querySelectorAll(
      "iframe, frame, object, embed, img, svg, math, form, input, button, base, meta, link, style, video, audio, source, image",
    )) {
      issues.push(`<${el.tagName.toLowerCase()}> inside a message`);
    }
  }
  return issues;
}

/**
 * From the OWASP XSS Filter Evasion Cheat Sheet (host names changed to `.invalid`,
 * which never resolves), plus mutation-XSS classics.
 */
const PAYLOADS = [
  `<SCRIPT SRC=https://xss.invalid/xss.js></SCRIPT>`,
  `javascript:/*--></title></style></textarea></script></xmp><svg/onload='+/"/+/onmouseover=1/+/[*/[]/+alert(1)//'>`,
  `<IMG SRC="javascript:alert('XSS');">`,
  `<IMG SRC=JaVaScRiPt:alert('XSS')>`,
  "<IMG SRC=`javascript:alert(\"RSnake says, 'XSS'\")`>",
  `<a onmouseover="alert(document.cookie)">xxs link</a>`,
  `<IMG """><SCRIPT>alert("XSS")</SCRIPT>"\\>`,
  `<IMG SRC=# onmouseover="alert('xxs')">`,
  `<IMG SRC=/ onerror="alert(String.fromCharCode(88,83,83))"></img>`,
  `<img src=x onerror="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116&#0000058&#0000097&#0000108&#0000101&#0000114&#0000116&#0000040&#0000039&#0000088&#0000083&#0000083&#0000039&#0000041">`,
  `<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>`,
  `<IMG SRC="jav\tascript:alert('XSS');">`,
  `<IMG SRC="jav&#x0A;ascript:alert('XSS');">`,
  `<SCRIPT/XSS SRC="https://xss.invalid/xss.js"></SCRIPT>`,
  '<BODY onload!#$%&()*~+-_.,:;?@[/|\\]^`=alert("XSS")>',
  `<<SCRIPT>alert("XSS");//\\<</SCRIPT>`,
  `<SCRIPT SRC=//xss.invalid/.j>`,
  `<iframe src=https://xss.invalid/scriptlet.html <`,
  `</TITLE><SCRIPT>alert("XSS");</SCRIPT>`,
  `<INPUT TYPE="IMAGE" SRC="javascript:alert('XSS');">`,
  `<BODY BACKGROUND="javascript:alert('XSS')">`,
  `<SVG/ONLOAD=alert('XSS')>`,
  `<svg><script>alert("XSS")</script></svg>`,
  `<STYLE>@import'https://xss.invalid/xss.css';</STYLE>`,
  `<META HTTP-EQUIV="refresh" CONTENT="0;url=javascript:alert('XSS');">`,
  `<TABLE BACKGROUND="javascript:alert('XSS')"><TR><TD>cell</TD></TR></TABLE>`,
  `<DIV STYLE="background-image: url(javascript:alert('XSS'))">div</DIV>`,
  `<a href="javascript:alert('XSS')">click</a>`,
  `<a href="jav&#x09;ascript:alert('XSS');">click</a>`,
  `<OBJECT TYPE="text/x-scriptlet" DATA="https://xss.invalid/scriptlet.html"></OBJECT>`,
  `<EMBED SRC="data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIG9ubG9hZD0iYWxlcnQoMSkiLz4=" type="image/svg+xml" AllowScriptAccess="always"></EMBED>`,
  `<math><mtext><table><mglyph><style><img src=x onerror=alert("XSS")>`,
  `<noscript><p title="</noscript><img src=x onerror=alert(1)>">`,
  `<form><button formaction=javascript:alert("XSS")>X</button></form>`,
  `<base href="javascript:alert('XSS');//">`,
  `<details open ontoggle=alert("XSS")>`,
  `"><img src=x onerror=alert("XSS")>`,
];
