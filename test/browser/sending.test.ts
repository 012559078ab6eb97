/**
 * Issue 12, Sending, in real Chromium: a To entry that is not a site and a site that takes
 * no private messages are refused next to the To field, in plain words, with everything
 * typed kept; Back after sending and Send again sends nothing twice (one message in the
 * outbox, one arrival); a draft survives a reload; a reply typed while the session ended
 * is kept, the sign-in comes back to the thread with the text in the box, and it sends.
 * axe-core on every state visited; screenshots of each new view at 1280 and 390 wide.
 */
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Site, waitFor, type FourHosts } from "../harness/hosts.js";
import { expectAccessible, screenshots, skipBrowserTests } from "./chromium.js";
import { startInboxHosts, type InboxHosts } from "./inbox-hosts.js";

const TIMEOUT = 90_000;
let setup: InboxHosts;
let hosts: FourHosts;
let page: Page;
/** A site on loopback whose page names no pm endpoint. */
let noPm: Site;
/** The thread of the message sent in the Back test: the reply test goes on from there. */
let threadUrl: string;

const bobReceived = async () => (await hosts.bob.pm.pm.inbox()).map((m) => m.content);
const aliceSent = async () => (await hosts.alice.pm.pm.outbox()).map((m) => m.content);

describe.skipIf(skipBrowserTests)("sending in Chromium (issue 12)", () => {
  beforeAll(async () => {
    setup = await startInboxHosts();
    hosts = setup.hosts;
    noPm = await new Site().listen();
    noPm.mode = "none";
    page = await setup.browser.context.newPage();
    await setup.signIn(page, setup.aliceInbox, hosts.alice.site.url);
  }, TIMEOUT);

  afterAll(async () => {
    await noPm?.stop();
    await setup?.close();
  });

  async function openCompose(): Promise<void> {
    await page.goto(`${setup.aliceInbox}compose`);
    await page.getByLabel("To").waitFor();
  }

  it("refuses a To entry that is not a site, naming it next to the field, with everything kept", { timeout: TIMEOUT }, async () => {
    await openCompose();
    await page.getByLabel("To").fill(`${new URL(hosts.bob.site.url).host} bob`);
    await page.getByLabel("Subject").fill("Lunch?");
    await page.getByLabel("Message", { exact: true }).fill("Shall we have lunch on Friday?");
    await page.getByRole("button", { name: "Send", exact: true }).click();
    const error = page.locator("#to-error");
    await error.waitFor();
    expect(await error.textContent()).toContain("“bob” is not a site address");
    expect(await page.getByLabel("To").getAttribute("aria-invalid")).toBe("true");
    expect(await page.getByLabel("To").inputValue()).toBe(`${new URL(hosts.bob.site.url).host} bob`);
    expect(await page.getByLabel("Subject").inputValue()).toBe("Lunch?");
    expect(await page.getByLabel("Message", { exact: true }).inputValue()).toBe("Shall we have lunch on Friday?");
    await expectAccessible(page, "compose with a To entry that is not a site");
    await screenshots(page, "send-not-a-site");
    expect(await aliceSent()).toEqual([]);
  });

  it("refuses a site that takes no private messages in plain words, the technical reason in a details line", { timeout: TIMEOUT }, async () => {
    await openCompose();
    await page.getByLabel("To").fill(noPm.url);
    await page.getByLabel("Message", { exact: true }).fill("Hello there");
    await page.getByRole("button", { name: "Send", exact: true }).click();
    const error = page.locator("#to-error");
    await error.waitFor();
    const host = new URL(noPm.url).host;
    expect(await error.locator("p").first().textContent()).toBe(`${host} does not take private messages.`);
    // The detail is there for the curious, closed.
    expect(await error.locator("details").getAttribute("open")).toBeNull();
    // What is rendered (a closed details line is not): innerText, not textContent.
    // biome-ignore lint/performance/useDomNodeTextContent: the rendered text is the point
    const visible = await page.locator("main").innerText();
    expect(visible).not.toMatch(/§|invalid_token|forbidden|handshake|no_endpoint|rel=pm/);
    expect(await page.getByLabel("To").inputValue()).toBe(noPm.url);
    expect(await page.getByLabel("Message", { exact: true }).inputValue()).toBe("Hello there");
    await expectAccessible(page, "compose refused: the site takes no private messages");
    await screenshots(page, "send-no-pm");
    await error.locator("summary").click();
    expect(await error.locator("details").textContent()).toContain("rel=pm");
    await expectAccessible(page, "compose refused, details open");
    expect(await aliceSent()).toEqual([]);
  });

  it("accepts a site that cannot be reached right now, and says it will be tried again", { timeout: TIMEOUT }, async () => {
    await openCompose();
    // A closed port: no answer at all (a site down for a moment), unlike a page that names no endpoint.
    await page.getByLabel("To").fill("http://127.0.0.1:9/");
    await page.getByLabel("Message", { exact: true }).fill("For when you are back");
    await page.getByRole("button", { name: "Send", exact: true }).click();
    await page.waitForURL(/\?notice=sent-retrying$/);
    expect(await page.locator(".notice").textContent()).toBe(
      "Sent. Delivery status updates below. A recipient could not be reached just now; it will be tried again.",
    );
    await expectAccessible(page, "the thread of a message to a site not reached yet");
    await screenshots(page, "send-retrying");
    expect(await aliceSent()).toContain("For when you are back");
  });

  it("keeps a draft in the browser across a reload", { timeout: TIMEOUT }, async () => {
    await openCompose();
    await page.getByLabel("To").fill(hosts.bob.site.url);
    await page.getByLabel("Message", { exact: true }).fill("A draft that survives");
    await page.waitForTimeout(500); // the draft is saved 300 ms after typing stops
    await page.reload();
    await page.getByLabel("To").waitFor();
    expect(await page.getByLabel("Message", { exact: true }).inputValue()).toBe("A draft that survives");
    expect(await page.getByLabel("To").inputValue()).toBe(hosts.bob.site.url);
    await expectAccessible(page, "compose with a draft restored");
    // Start over for the next test: an empty form keeps nothing.
    await page.getByLabel("Message", { exact: true }).fill("");
    await page.getByLabel("To").fill("");
    await page.waitForTimeout(500);
  });

  it("Back after sending, then Send again: one message in the outbox and one arrival", { timeout: TIMEOUT }, async () => {
    await openCompose();
    await page.getByLabel("To").fill(hosts.bob.site.url);
    await page.getByLabel("Subject").fill("Only once");
    await page.getByLabel("Message", { exact: true }).fill("This message must arrive once.");
    await page.getByRole("button", { name: "Send", exact: true }).click();
    await page.waitForURL(/\/c\/[A-Za-z0-9_-]+\?notice=sent$/);
    threadUrl = page.url().replace(/\?.*$/, "");
    await page.locator("li.message.sent .delivery.delivered").waitFor({ timeout: 20_000 });
    await expectAccessible(page, "the thread after sending");

    await page.goBack();
    await page.getByLabel("To").waitFor();
    // The browser put back what was sent (a field with autocomplete="off", To with its contact list, it leaves empty: it is typed again).
    expect(await page.getByLabel("Message", { exact: true }).inputValue()).toBe("This message must arrive once.");
    if ((await page.getByLabel("To").inputValue()) === "") await page.getByLabel("To").fill(hosts.bob.site.url);
    await expectAccessible(page, "compose again after Back");
    await page.getByRole("button", { name: "Send", exact: true }).click();
    await page.waitForURL(/\/c\/[A-Za-z0-9_-]+\?notice=already-sent$/);
    expect(page.url().replace(/\?.*$/, "")).toBe(threadUrl);
    expect(await page.locator(".notice").textContent()).toBe("This message was already sent; it was not sent again.");
    await expectAccessible(page, "the thread after a second Send");
    await screenshots(page, "send-already-sent");

    await hosts.idle();
    expect((await aliceSent()).filter((c) => c === "This message must arrive once.")).toHaveLength(1);
    expect((await bobReceived()).filter((c) => c === "This message must arrive once.")).toHaveLength(1);
    // The draft went with the send: a new compose form is empty.
    await openCompose();
    expect(await page.getByLabel("Message", { exact: true }).inputValue()).toBe("");
  });

  it("a reply typed while the session ended is kept; sign-in returns to the thread with the text, and it sends", { timeout: TIMEOUT }, async () => {
    await page.goto(threadUrl);
    const box = page.getByLabel("Your reply");
    await box.fill("Typed while my session ended.");
    // The session ends (as after its lifetime, or a sign-out elsewhere): its cookie goes.
    const cookies = await setup.browser.context.cookies(setup.aliceInbox);
    const session = cookies.find((c) => c.name.startsWith("indiepm_session_"));
    expect(session).toBeDefined();
    await setup.browser.context.clearCookies({ name: session!.name, domain: session!.domain });
    await page.getByRole("button", { name: "Send reply" }).click();
    await page.waitForURL((url) => url.searchParams.get("notice") === "expired");
    expect(new URL(page.url()).searchParams.get("return")).toBe(new URL(threadUrl).pathname.slice(1));
    expect(await page.locator(".notice").textContent()).toContain("Your session ended");
    await expectAccessible(page, "the sign-in page after the session ended");
    await screenshots(page, "send-session-ended");
    expect(await aliceSent()).not.toContain("Typed while my session ended.");

    await setup.signIn(page, setup.aliceInbox, hosts.alice.site.url);
    await page.waitForURL(threadUrl);
    await page.getByLabel("Your reply").waitFor();
    expect(await page.getByLabel("Your reply").inputValue()).toBe("Typed while my session ended.");
    await expectAccessible(page, "the thread after sign-in, the reply restored");
    await screenshots(page, "send-reply-restored");

    await page.getByRole("button", { name: "Send reply" }).click();
    await page.waitForURL(/\?notice=sent$/);
    await waitFor(async () => ((await bobReceived()).includes("Typed while my session ended.") ? true : undefined), 20_000, "bob to receive the reply");
    // Sent: the draft is gone.
    expect(await page.getByLabel("Your reply").inputValue()).toBe("");
    await page.reload();
    expect(await page.getByLabel("Your reply").inputValue()).toBe("");
    await expectAccessible(page, "the thread after the reply");
  });
});
