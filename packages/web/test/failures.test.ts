/**
 * Issue 12 "Sending", failures you can see, without a browser: the navigation's count, the
 * Not delivered page, and its Retry now / Cancel forms — CSRF-checked, only for a delivery
 * of the signed-in site, then a redirect that stays inside the inbox. One pm server holds
 * alice's and bob's sites (support.ts `startSharedHost`); each writes to a site nobody
 * answers for, so its delivery is stuck retrying.
 */
import { deliveryId } from "@indiepm/core";
import { startLoopbackServer } from "@indiepm/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Browser, startSharedHost, type SharedHost } from "./support.js";

/** A site on a port nothing listens on: every try fails to connect (§6: retried). */
const NOBODY = "http://127.0.0.1:9/";

let host: SharedHost;
let b: Browser;
let pmUrl: string;
let aliceDelivery: string;
let bobDelivery: string;

async function stuck(site: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await host.pm.deliveryProblemCounts({ site })).stuck === 1) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`no stuck delivery of ${site}`);
}

const stateOf = async (site: string) => (await host.pm.deliveryProblems({ site })).map((p) => p.state);

describe("the Not delivered page and its forms", () => {
  beforeAll(async () => {
    host = await startSharedHost();
    const alice = host.asInboxHost(host.alice, host.aliceAuth);
    pmUrl = alice.pmUrl;
    b = new Browser();
    const inbox = await b.signIn(alice);
    expect(inbox).not.toContain("Not delivered");
    const mine = await host.pm.send({ from: host.alice, to: [NOBODY], content: "hello nobody", subject: "Anyone home?" });
    const theirs = await host.pm.send({ from: host.bob, to: [NOBODY], content: "bob's own" });
    aliceDelivery = deliveryId(host.alice, NOBODY, mine.message);
    bobDelivery = deliveryId(host.bob, NOBODY, theirs.message);
    await stuck(host.alice);
    await stuck(host.bob);
  });
  afterAll(async () => {
    await host?.close();
  });

  it("the navigation counts the signed-in site's deliveries not delivered, and links to the page listing them", async () => {
    const inbox = await (await b.fetch(pmUrl)).text();
    expect(inbox).toContain(
      '<a class="undelivered-nav" href="/deliveries"><span class="undelivered-icon" aria-hidden="true">⚠</span><span class="undelivered-words">Not delivered</span> <span class="badge warn" id="undelivered-badge">(1)</span></a>',
    );
    const list = await b.fetch(`${pmUrl}deliveries`);
    expect(list.status).toBe(200);
    const text = await list.text();
    expect(text).toContain("<h1>Not delivered</h1>");
    expect(text).toContain("Anyone home?");
    expect(text).toContain("<strong>Not delivered yet.</strong> Trying again at <time");
    expect(text).toContain("The server of 127.0.0.1:9 could not be reached.");
    // The technical code only in the details line.
    expect(text.match(/network_error/g)).toHaveLength(1);
    expect(text).toContain(`<summary>Details</summary><p><code>retrying (network_error)</code>`);
    // One delivery: alice's, not bob's (same server, other site).
    expect(text).toContain(`value="${aliceDelivery}"`);
    expect(text).not.toContain(bobDelivery);
    expect(text).not.toContain("bob's own");
  });

  it("a form without the page's token is refused, and changes nothing", async () => {
    const answer = await b.post(`${pmUrl}deliveries/cancel`, { id: aliceDelivery, back: "deliveries" });
    expect(answer.status).toBe(403);
    const forged = await b.post(`${pmUrl}deliveries/cancel`, { id: aliceDelivery, csrf: "x", back: "deliveries" }, { from: "https://evil.example" });
    expect(forged.status).toBe(403);
    expect(await stateOf(host.alice)).toEqual(["stuck"]);
  });

  it("another site's delivery on the same server is neither cancelled nor retried from alice's inbox", async () => {
    const csrf = Browser.csrf(await (await b.fetch(`${pmUrl}deliveries`)).text());
    for (const action of ["cancel", "retry"]) {
      const answer = await b.post(`${pmUrl}deliveries/${action}`, { id: bobDelivery, csrf, back: "deliveries" });
      expect(answer.status).toBe(303);
      expect(answer.headers.get("location")).toBe("/deliveries?notice=delivery-gone");
    }
    expect(await stateOf(host.bob)).toEqual(["stuck"]);
    const page = await (await b.fetch(`${pmUrl}deliveries?notice=delivery-gone`)).text();
    expect(page).toContain("That delivery was no longer waiting: it was delivered or cancelled meanwhile.");
  });

  it("Retry now returns to the page it was pressed on, and only to a page of the inbox", async () => {
    const csrf = Browser.csrf(await (await b.fetch(`${pmUrl}deliveries`)).text());
    const fromThread = await b.post(`${pmUrl}deliveries/retry`, { id: aliceDelivery, csrf, back: "c/abc_DEF-1" });
    expect(fromThread.status).toBe(303);
    expect(fromThread.headers.get("location")).toBe("/c/abc_DEF-1?notice=retrying");
    for (const back of ["https://evil.example/", "//evil.example/", "c/../settings", ""]) {
      const answer = await b.post(`${pmUrl}deliveries/retry`, { id: aliceDelivery, csrf, back });
      expect(answer.headers.get("location")).toBe("/deliveries?notice=retrying");
    }
  });

  it("a delivery that failed for good: 'Not delivered.' on the page, on its conversation's row and on its thread's chip, with both buttons", async () => {
    // A page answering 404 (§6: a final failure at step 1).
    const gone = `${new URL(host.alice).origin}/~gone/`;
    const sent = await host.pm.send({ from: host.alice, to: [gone], content: "to a site that is gone", subject: "Still there?" });
    for (let i = 0; i < 200 && (await host.pm.deliveryProblemCounts({ site: host.alice })).failed === 0; i++) await new Promise((r) => setTimeout(r, 25));
    const [failed] = await host.pm.deliveryProblems({ site: host.alice, state: "failed" });
    expect(failed).toMatchObject({ state: "failed", error: "discovery_failed" });
    const page = await (await b.fetch(`${pmUrl}deliveries`)).text();
    expect(page).toContain("<strong>Not delivered.</strong> It will not be tried again unless you retry.");
    expect(page).toContain(`The site ${new URL(gone).host} could not be read.`);
    const threads = await (await b.fetch(`${pmUrl}?view=threads`)).text();
    expect(threads).toContain(`Not delivered to ${new URL(gone).host}/~gone</span>`);
    const thread = await (await b.fetch(`${pmUrl}c/${failed!.conversation}`)).text();
    const chip = thread.slice(thread.indexOf(`data-recipient="${gone}"`));
    expect(chip).toMatch(
      /^[^>]*><span class="site">[^<]*<\/span>: <span class="state">not delivered<\/span><span class="detail">The site [^<]* could not be read\.<\/span>/,
    );
    expect(thread).toContain(`name="id" value="${deliveryId(host.alice, gone, sent.message)}"`);
    expect(thread).toContain('class="delivery failed"');
    // Cancelled, it leaves the count.
    const csrf = Browser.csrf(thread);
    await b.post(`${pmUrl}deliveries/cancel`, { id: failed!.id, csrf, back: `c/${failed!.conversation}` });
    expect((await host.pm.deliveryProblemCounts({ site: host.alice })).failed).toBe(0);
  });

  it("Cancel: the delivery is cancelled, the count and the list are empty again", async () => {
    const csrf = Browser.csrf(await (await b.fetch(`${pmUrl}deliveries`)).text());
    const answer = await b.post(`${pmUrl}deliveries/cancel`, { id: aliceDelivery, csrf, back: "deliveries" });
    expect(answer.headers.get("location")).toBe("/deliveries?notice=delivery-cancelled");
    const page = await (await b.fetch(answer.headers.get("location")!.replace(/^\//, pmUrl))).text();
    expect(page).toContain("Cancelled: it will not be sent.");
    expect(page).toContain("Every message you sent was delivered or is on its way.");
    expect(await host.pm.deliveryProblemCounts({ site: host.alice })).toEqual({ failed: 0, stuck: 0 });
    expect(await (await b.fetch(pmUrl)).text()).not.toContain("Not delivered");
  });
});

describe("the Not delivered page names people, not hosts (issue 12)", () => {
  it("the recipient's h-card name with the site beside it on the page and its buttons, on the list row and the thread's chip", async () => {
    // carol's site has an h-card and no pm endpoint: a message to her is not delivered.
    const carol = await startLoopbackServer((_req, res) => {
      res
        .writeHead(200, { "content-type": "text/html; charset=utf-8" })
        .end(`<!doctype html><title>Carol</title><div class="h-card"><a class="p-name u-url" href="${carol.url}">Carol Person</a></div>`);
    });
    const shared = await startSharedHost();
    try {
      const b = new Browser();
      await b.signIn(shared.asInboxHost(shared.alice, shared.aliceAuth));
      expect((await shared.pm.refreshPeople([carol.url]))[0]).toMatchObject({ name: "Carol Person" });
      await shared.pm.send({ from: shared.alice, to: [carol.url], content: "are you there?", subject: "Carol?" });
      for (let i = 0; i < 200; i++) {
        const { failed, stuck } = await shared.pm.deliveryProblemCounts({ site: shared.alice });
        if (failed + stuck > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const host = new URL(carol.url).host;
      const page = await (await b.fetch(`${pmUrlOf(shared)}deliveries`)).text();
      expect(page).toContain(
        `<p class="meta">To <span class="person" title="${carol.url}"><span class="name">Carol Person</span> <span class="host">${host}</span></span>`,
      );
      expect(page).toContain(`Retry now<span class="visually-hidden"> the message to Carol Person</span>`);
      const threads = await (await b.fetch(`${pmUrlOf(shared)}?view=threads`)).text();
      expect(threads).toMatch(/Not delivered (yet )?to Carol Person/);
      const [problem] = await shared.pm.deliveryProblems({ site: shared.alice });
      const thread = await (await b.fetch(`${pmUrlOf(shared)}c/${problem!.conversation}`)).text();
      expect(thread).toContain(`data-recipient="${carol.url}"><span class="site">Carol Person</span>: `);
    } finally {
      await shared.close();
      await carol.close();
    }
  });
});

function pmUrlOf(shared: SharedHost): string {
  return shared.asInboxHost(shared.alice, shared.aliceAuth).pmUrl;
}
