/**
 * Issue 12 "Live": what the web inbox's live updates read — the messages received after a
 * cursor, and muted correspondents, whose messages arrive and are listed but count for no
 * unread badge — on a real PmServer over the memory store.
 */
import { describe, expect, it } from "vitest";
import { ALICE, BOB, CAROL, bobsMessages } from "./support/messages.js";
import { createPmServer } from "../src/server.js";
import { createMemoryStore } from "../src/store/memory.js";
import { pageKeyOf } from "../src/owner/conversations.js";
import type { InboxDoc } from "../src/protocol/records.js";

const quiet = { info() {}, warn() {}, error() {} };

function setup() {
  const store = createMemoryStore();
  const pm = createPmServer({ endpoint: "http://127.0.0.1:9/", sites: [BOB], store, dev: true, logger: quiet });
  const { received } = bobsMessages();
  // As deliver writes them: with the page key the arrivals are read by.
  const arrive = (message: string, sender: string, extra: Partial<InboxDoc> = {}) => {
    const doc = received(message, sender, extra);
    return store.insert("inbox", { ...doc, pageKey: pageKeyOf(doc.receivedAt, doc._id) });
  };
  return { pm, arrive };
}

describe("arrivals after a cursor", () => {
  it("an empty inbox has a cursor too, and everything after it arrives, oldest first", async () => {
    const { pm, arrive } = setup();
    const { cursor, unread } = await pm.inboxStatus({ site: BOB });
    expect(unread).toBe(0);
    await arrive("urn:1", ALICE, { content: "Lunch on Friday?", name: "Lunch" });
    await arrive("urn:2", CAROL, { content: "  and   the second\nline " });
    const first = await pm.arrivals({ site: BOB, after: cursor });
    expect(first.items.map((a) => [a.message, a.sender, a.snippet, a.subject, a.read, a.muted])).toEqual([
      ["urn:1", ALICE, "Lunch on Friday?", "Lunch", false, false],
      ["urn:2", CAROL, "and the second line", undefined, false, false],
    ]);
    expect(first.more).toBe(false);
    // Nothing new: the same cursor, no items; then only what came after.
    expect(await pm.arrivals({ site: BOB, after: first.cursor })).toEqual({ items: [], cursor: first.cursor, more: false });
    await arrive("urn:3", ALICE);
    expect((await pm.arrivals({ site: BOB, after: first.cursor })).items.map((a) => a.message)).toEqual(["urn:3"]);
    // The status's cursor is after the latest.
    expect((await pm.arrivals({ site: BOB, after: (await pm.inboxStatus({ site: BOB })).cursor })).items).toEqual([]);
  });

  it("a snippet is the start of the text in whole words", async () => {
    const { pm, arrive } = setup();
    const { cursor } = await pm.inboxStatus({ site: BOB });
    await arrive("urn:1", ALICE, { content: `${"word ".repeat(30)}end` });
    const [a] = (await pm.arrivals({ site: BOB, after: cursor })).items;
    expect(a!.snippet.length).toBeLessThanOrEqual(100);
    expect(a!.snippet).toMatch(/^(word )+word…$/);
  });

  it("refuses a cursor it did not give", async () => {
    const { pm } = setup();
    await expect(pm.arrivals({ site: BOB, after: "nonsense!" })).rejects.toMatchObject({ code: "invalid_request" });
  });
});

describe("muting a correspondent", () => {
  it("keeps their messages listed and unread, marked muted, out of the unread count; unmuting counts them again", async () => {
    const { pm, arrive } = setup();
    const { cursor } = await pm.inboxStatus({ site: BOB });
    await arrive("urn:1", ALICE);
    await arrive("urn:2", CAROL);
    expect((await pm.inboxStatus({ site: BOB })).unread).toBe(2);

    expect((await pm.updateSettings(BOB, { mute: [ALICE] })).muted).toEqual([ALICE]);
    await arrive("urn:3", ALICE);
    expect((await pm.inboxStatus({ site: BOB })).unread).toBe(1);
    expect((await pm.inboxStatus()).unread).toBe(1);
    expect((await pm.arrivals({ site: BOB, after: cursor })).items.map((a) => [a.message, a.muted])).toEqual([
      ["urn:1", true],
      ["urn:2", false],
      ["urn:3", true],
    ]);
    // Still there, still unread.
    const list = await pm.conversations({ site: BOB });
    expect(list.filter((c) => c.participants.includes(ALICE)).map((c) => c.unread)).toEqual([1, 1]);

    expect((await pm.updateSettings(BOB, { unmute: [ALICE] })).muted).toEqual([]);
    expect((await pm.inboxStatus({ site: BOB })).unread).toBe(3);
  });

  it("is held to site URLs, and is not a block", async () => {
    const { pm } = setup();
    await expect(pm.updateSettings(BOB, { mute: ["not a site!!"] })).rejects.toMatchObject({ code: "invalid_request" });
    const settings = await pm.updateSettings(BOB, { mute: [ALICE] });
    expect(settings.blocked).toEqual([]);
    expect((await pm.settings(BOB)).muted).toEqual([ALICE]);
  });
});
