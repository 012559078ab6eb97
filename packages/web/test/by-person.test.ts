/**
 * Conversations by person (issue 12) over real HTTP: the default list has one row per
 * correspondent showing the latest text, pages past 100 with an "Older" link, the person
 * page shows every message in time order with the reply box (`#latest`) answering the
 * latest message; the threads stay a link away. And the relative times, a pure function.
 */
import { randomUUID } from "node:crypto";
import type { Store } from "@indiepm/core";
import { afterEach, describe, expect, it } from "vitest";
import { relativeTime } from "../src/pages/by-person.js";
import { Browser, startInboxHost, type InboxHost } from "./support.js";

describe("relative times, as messaging apps write them", () => {
  const now = Date.parse("2026-12-10T14:30:00Z"); // a Thursday
  it.each([
    ["2026-12-10T14:29:45Z", "now"],
    ["2026-12-10T14:30:20Z", "now"],
    ["2026-12-10T14:28:00Z", "2 min"],
    ["2026-12-10T13:31:00Z", "59 min"],
    ["2026-12-10T13:05:00Z", "13:05"],
    ["2026-12-10T00:00:00Z", "00:00"],
    ["2026-12-09T23:59:00Z", "Wed"],
    ["2026-12-08T09:00:00Z", "Tue"],
    ["2026-12-04T09:00:00Z", "Fri"],
    ["2026-12-03T09:00:00Z", "3 Dec"],
    ["2026-03-03T09:00:00Z", "3 Mar"],
    ["2025-03-03T09:00:00Z", "3 Mar 2025"],
    ["2027-01-01T09:00:00Z", "1 Jan 2027"],
  ])("%s → %s", (iso, text) => {
    expect(relativeTime(iso, now)).toBe(text);
  });

  it("counts calendar days in the zone given", () => {
    // 23:30 UTC on the 9th is already the 10th in Berlin: "today" there, "Wed" in UTC.
    expect(relativeTime("2026-12-09T23:30:00Z", now, "Europe/Berlin")).toBe("00:30");
    expect(relativeTime("2026-12-09T23:30:00Z", now, "UTC")).toBe("Wed");
  });
});

let host: InboxHost | undefined;
afterEach(async () => {
  await host?.close();
  host = undefined;
});

const ALICE = "https://alice.example.org/";

type Received = { sender?: string; content: string; name?: string; to?: string[] };

/** A host whose store holds these received messages as an older version left them (filed by the passes at start). */
async function hostWith(messages: Received[]): Promise<{ host: InboxHost; ids: string[] }> {
  const ids: string[] = [];
  let clock = Date.now() - 3_600_000;
  host = await startInboxHost({
    seed: async (store: Store, site: string) => {
      for (const fields of messages) {
        const message = `urn:uuid:${randomUUID()}`;
        ids.push(message);
        await store.insert("inbox", {
          _id: randomUUID(),
          message,
          sender: fields.sender ?? ALICE,
          recipient: site,
          content: fields.content,
          published: "2025-01-01T10:00:00Z",
          receivedAt: (clock += 1000),
          ...(fields.name ? { name: fields.name } : {}),
          ...(fields.to ? { to: fields.to } : {}),
        });
      }
    },
  });
  return { host, ids };
}

const rows = (page: string) => page.match(/<li class="conversation chat/g) ?? [];

describe("the inbox by person", () => {
  it("shows 25 subject-less messages from one person as one row with the latest text; the person page has all 25 in order and the reply box", async () => {
    const { host, ids } = await hostWith(Array.from({ length: 25 }, (_, i) => ({ content: `Message number ${i} without a subject.` })));
    const b = new Browser();
    const inbox = await b.signIn(host);
    expect(rows(inbox)).toHaveLength(1);
    expect(inbox).not.toContain("(no subject)");
    expect(inbox).toContain("Message number 24 without a subject.");
    expect(inbox).toMatch(/class="badge">25<span class="visually-hidden"> unread/);
    expect(inbox).toMatch(/<time class="rel" datetime="[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d UTC">(\d+ min|\d\d:\d\d)<\/time>/);
    const link = /href="(\/p\/[A-Za-z0-9_-]+)#latest"/.exec(inbox)![1]!;
    const person = await (await b.fetch(`${host.pmUrl}${link.slice(1)}`)).text();
    const shown = [...person.matchAll(/Message number (\d+) without a subject\./g)].map((m) => Number(m[1]));
    expect(shown).toEqual([...Array(25).keys()]);
    // The reply box comes after the newest message and is the #latest the rows link to.
    expect(person.indexOf('id="latest"')).toBeGreaterThan(person.indexOf("Message number 24"));
    expect(person).toMatch(/<form class="reply card" id="latest" method="post" action="\/p\/[A-Za-z0-9_-]+\/reply">/);
    // GET changes nothing; the page offers the Mark read form app.js posts.
    expect((await host.pm.inboxStatus()).unread).toBe(25);
    expect(person).toContain("data-auto-read");
    // The reply answers the latest message, to its sender; a smuggled `to` is ignored.
    const reply = await b.post(`${host.pmUrl}${link.slice(1)}/reply`, {
      csrf: Browser.csrf(person),
      content: "One answer to all 25",
      to: "https://mallory.example/",
    });
    expect(reply.status).toBe(303);
    expect(reply.headers.get("location")).toBe(`${link}?notice=sent#latest`);
    const [sent] = await host.pm.outbox();
    expect(sent).toMatchObject({ content: "One answer to all 25", inReplyTo: ids[24] });
    expect(sent!.deliveries.map((d) => d.recipient)).toEqual([ALICE]);
    // Still one row, now showing what was sent.
    const after = await (await b.fetch(host.pmUrl)).text();
    expect(rows(after)).toHaveLength(1);
    expect(after).toMatch(/<span class="you">You:<\/span> One answer to all 25/);
    // Mark read from the page: every message of the chat.
    expect((await b.post(`${host.pmUrl}${link.slice(1)}/read`, { csrf: Browser.csrf(person), read: "1" })).status).toBe(303);
    expect((await host.pm.inboxStatus()).unread).toBe(0);
  });

  it("pages 105 people 100 at a time with an Older link that works without script", async () => {
    const { host } = await hostWith(Array.from({ length: 105 }, (_, i) => ({ sender: `https://p${i}.example/`, content: `hello from person ${i}.` })));
    const b = new Browser();
    const first = await b.signIn(host);
    expect(rows(first)).toHaveLength(100);
    const older = /<a class="button" rel="next" href="([^"]+)">Older<\/a>/.exec(first)?.[1];
    expect(older).toMatch(/^\/\?before=[A-Za-z0-9_-]+$/);
    const second = await (await b.fetch(new URL(older!, host.pmUrl).href)).text();
    expect(rows(second)).toHaveLength(5);
    expect(second).not.toContain(">Older<");
    const shown = [...first.matchAll(/hello from person (\d+)\./g), ...second.matchAll(/hello from person (\d+)\./g)].map((m) => Number(m[1]));
    expect(new Set(shown).size).toBe(105);
  });

  it("a row with a subject shows the subject, then the text; threads and the search stay", async () => {
    const { host } = await hostWith([{ content: "Shall we?", name: "Picnic" }]);
    const b = new Browser();
    const inbox = await b.signIn(host);
    expect(inbox).toMatch(/<span class="subject">Picnic<\/span> <span class="text">Shall we\?<\/span>/);
    expect(inbox).toMatch(/<a href="\/\?view=threads">By thread<\/a>/);
    const threads = await (await b.fetch(`${host.pmUrl}?view=threads`)).text();
    expect(threads).toMatch(/<li class="conversation[^"]*">\s*<a href="\/c\/[A-Za-z0-9_-]+"/);
    expect(threads).toMatch(/<a href="\/\?view=threads" aria-current="page">By thread<\/a>/);
    expect(await (await b.fetch(`${host.pmUrl}p/nothing-here`)).text()).toContain("There is no such conversation in your inbox.");
  });
});

/** The hidden fields of each form posting to `action` on `page`, in page order. */
function formsTo(page: string, action: string): Record<string, string>[] {
  const forms = page.split("<form").filter((f) => f.includes(`action="${action}"`));
  return forms.map((f) =>
    Object.fromEntries([...f.slice(0, f.indexOf("</form>")).matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1]!, m[2]!])),
  );
}

describe("the person page's actions return to the person page (issue 12)", () => {
  it("Mark read, Mark unread, Delete, Retry now and Cancel come back to /p/ID (a thread's to its thread; a page gone: the inbox)", async () => {
    const { host } = await hostWith([{ content: "First of two." }, { content: "Second of two." }]);
    const b = new Browser();
    const inbox = await b.signIn(host);
    const link = /href="\/(p\/[A-Za-z0-9_-]+)#latest"/.exec(inbox)![1]!;
    let person = await (await b.fetch(`${host.pmUrl}${link}`)).text();
    const csrf = Browser.csrf(person);
    const reads = formsTo(person, "/m/read");
    expect(reads).toHaveLength(2);
    for (const form of [...reads, ...formsTo(person, "/m/delete")]) expect(form.back).toBe(link);
    // Read, then unread, from the person page: back there, saying so.
    const read = await b.post(`${host.pmUrl}m/read`, { ...reads[0]!, csrf });
    expect(read.status).toBe(303);
    expect(read.headers.get("location")).toBe(`/${link}?notice=read`);
    const unread = await b.post(`${host.pmUrl}m/read`, { ...reads[0]!, csrf, read: "0" });
    expect(unread.headers.get("location")).toBe(`/${link}?notice=unread`);
    // An earlier page of the person is returned to as it was; a path leaving the inbox is not taken.
    const earlier = await b.post(`${host.pmUrl}m/read`, { ...reads[0]!, csrf, back: `${link}?before=abc_1` });
    expect(earlier.headers.get("location")).toBe(`/${link}?before=abc_1&notice=read`);
    for (const back of ["https://evil.example/", "//evil.example/", `${link}/../../x`]) {
      const answer = await b.post(`${host.pmUrl}m/read`, { ...reads[0]!, csrf, back });
      expect(answer.headers.get("location")).toBe(`/c/${reads[0]!.conversation}?notice=read`);
    }
    // The thread's own forms still return to the thread.
    const thread = await (await b.fetch(`${host.pmUrl}c/${reads[0]!.conversation}`)).text();
    expect(formsTo(thread, "/m/read")[0]!.back).toBe(`c/${reads[0]!.conversation}`);

    // A reply from the person page: its delivery's Retry now and Cancel come back there too (and so do the live list's forms).
    await b.post(`${host.pmUrl}${link}/reply`, { csrf, content: "My answer." });
    person = await (await b.fetch(`${host.pmUrl}${link}`)).text();
    const [retry] = formsTo(person, "/deliveries/retry");
    expect(retry).toMatchObject({ back: link });
    expect(formsTo(person, "/deliveries/cancel")[0]).toMatchObject({ back: link });
    const retried = await b.post(`${host.pmUrl}deliveries/retry`, { ...retry!, csrf });
    expect(retried.headers.get("location")).toBe(`/${link}?notice=retrying`);
    const live = await (await b.fetch(`${host.pmUrl}${link}/live`)).text();
    expect(new Set([...formsTo(live, "/m/delete"), ...formsTo(live, "/deliveries/retry")].map((f) => f.back))).toEqual(new Set([link]));

    // Delete: back to the person page while it shows anything; the last message gone, the inbox.
    const deletes = formsTo(person, "/m/delete");
    expect(deletes).toHaveLength(3);
    for (const [i, form] of deletes.entries()) {
      const answer = await b.post(`${host.pmUrl}m/delete`, { ...form, csrf });
      expect(answer.headers.get("location")).toBe(i < deletes.length - 1 ? `/${link}?notice=deleted` : "/?notice=deleted");
    }
  });
});
