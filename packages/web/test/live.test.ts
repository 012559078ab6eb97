/**
 * Issue 12 "Live", the server's half: what app.js reads as messages arrive (status.json
 * with `after`, a conversation's live fragment) and muting or blocking from a
 * conversation — forms checked, redirects kept inside the inbox. (The browser's half:
 * test/browser/live.test.ts.)
 */
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { conversationId } from "@indiepm/core";
import { startLoopbackServer } from "@indiepm/test-support";
import { safeBack } from "../src/pages/live.js";
import { Browser, startInboxHost, type InboxHost } from "./support.js";

let host: InboxHost;
beforeEach(async () => {
  host = await startInboxHost();
});
afterEach(async () => {
  await host.close();
});

const ALICE = "https://alice.example.org/";

/** A message as deliver writes it: filed in its conversation, with its page key. */
async function arrive(content: string, sender = ALICE): Promise<{ message: string; conversation: string }> {
  const message = `urn:uuid:${randomUUID()}`;
  const _id = randomUUID();
  const receivedAt = Date.now();
  const conversation = conversationId(host.site, message);
  await host.store.insert("inbox", {
    _id,
    message,
    sender,
    recipient: host.site,
    content,
    published: "2025-01-01T10:00:00Z",
    receivedAt,
    conversation,
    pageKey: `${String(receivedAt).padStart(15, "0")}.${_id}`,
  });
  return { message, conversation };
}

/** A host whose inbox held these messages (the second answering the first) before it started: filed, with their conversation. */
async function hostHolding(contents: string[]): Promise<{ conversation: string }> {
  await host.close();
  const root = `urn:uuid:${randomUUID()}`;
  host = await startInboxHost({
    seed: async (store, site) => {
      for (const [i, content] of contents.entries()) {
        await store.insert("inbox", {
          _id: randomUUID(),
          message: i === 0 ? root : `urn:uuid:${randomUUID()}`,
          sender: ALICE,
          recipient: site,
          content,
          published: "2025-01-01T10:00:00Z",
          receivedAt: Date.now() - 1000 + i,
          ...(i > 0 ? { inReplyTo: root } : {}),
        });
      }
    },
  });
  await host.pm.conversations();
  return { conversation: conversationId(host.site, root) };
}

describe("status.json?after=CURSOR", () => {
  it("adds the messages received since the cursor, each with a label and a link, and the next cursor", async () => {
    const b = new Browser();
    const page = await b.signIn(host);
    const cursor = /data-cursor="([^"]+)"/.exec(page)![1]!;
    const first = await arrive("Hello <b>there</b>, are you in on Friday?");
    const status = await (await b.fetch(`${host.pmUrl}status.json?after=${cursor}`)).json();
    expect(status).toMatchObject({ unread: 1, more: false });
    expect(status.arrivals).toEqual([
      {
        sender: ALICE,
        label: "alice.example.org",
        message: first.message,
        conversation: first.conversation,
        href: `/c/${first.conversation}`,
        receivedAt: expect.any(String),
        snippet: "Hello <b>there</b>, are you in on Friday?",
        read: false,
        muted: false,
      },
    ]);
    // From the cursor it answered: nothing new.
    const again = await (await b.fetch(`${host.pmUrl}status.json?after=${status.cursor}`)).json();
    expect(again.arrivals).toEqual([]);
    // Without after: the status as before, with the cursor.
    expect(Object.keys(await (await b.fetch(`${host.pmUrl}status.json`)).json()).sort()).toEqual(["cursor", "latestReceivedAt", "unread"]);
  });

  it("labels an arrival with its sender's h-card name where one is kept, without reading anyone's page", async () => {
    let reads = 0;
    const carol = await startLoopbackServer((_req, res) => {
      reads++;
      res
        .writeHead(200, { "content-type": "text/html; charset=utf-8" })
        .end(`<!doctype html><title>Carol</title><div class="h-card"><a class="p-name u-url" href="${carol.url}">Carol Person</a></div>`);
    });
    try {
      expect((await host.pm.refreshPeople([carol.url]))[0]).toMatchObject({ name: "Carol Person" });
      const b = new Browser();
      const page = await b.signIn(host);
      const cursor = /data-cursor="([^"]+)"/.exec(page)![1]!;
      reads = 0;
      await arrive("From carol", carol.url);
      await arrive("From alice, whose page was never read");
      const status = await (await b.fetch(`${host.pmUrl}status.json?after=${cursor}`)).json();
      const labels = Object.fromEntries(status.arrivals.map((a: { snippet: string; label: string }) => [a.snippet, a.label]));
      expect(labels).toEqual({ "From carol": "Carol Person", "From alice, whose page was never read": "alice.example.org" });
      await host.pm.idle();
      expect(reads).toBe(0);
    } finally {
      await carol.close();
    }
  });

  it("refuses a cursor it did not give, as JSON", async () => {
    const b = new Browser();
    await b.signIn(host);
    const res = await b.fetch(`${host.pmUrl}status.json?after=not-a-cursor!`);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: "invalid_request" });
  });
});

describe("GET c/:id/live", () => {
  it("answers the latest messages as the thread renders them, escaped, each with its key", async () => {
    const { conversation } = await hostHolding(["first", "<script>alert(1)</script>"]);
    const b = new Browser();
    await b.signIn(host);
    const res = await b.fetch(`${host.pmUrl}c/${conversation}/live`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    const fragment = await res.text();
    expect(fragment).toMatch(/^<ol data-total="2">/);
    expect(fragment.match(/<li class="message received unread" id="m\d+" data-key="https:\/\/alice\.example\.org\/ urn:uuid:[^"]+">/g)).toHaveLength(2);
    expect(fragment).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    expect(fragment).not.toContain("<script>");
  });

  it("is 404 for a conversation that is not this site's", async () => {
    const b = new Browser();
    await b.signIn(host);
    expect((await b.fetch(`${host.pmUrl}c/nothing-here/live`)).status).toBe(404);
  });
});

describe("mute and block from a conversation", () => {
  it("mutes and unmutes, back to the page named, with the confirmation; the muted count leaves the badge", async () => {
    const { conversation } = await hostHolding(["quiet please"]);
    const b = new Browser();
    const page = await b.signIn(host);
    const csrf = Browser.csrf(page);
    const res = await b.post(`${host.pmUrl}people/mute`, { csrf, site: ALICE, on: "1", back: `c/${conversation}` });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(`/c/${conversation}?notice=muted&who=${encodeURIComponent(ALICE)}`);
    expect((await host.pm.settings(host.site)).muted).toEqual([ALICE]);
    const thread = await (await b.fetch(`${host.pmUrl}${res.headers.get("location")!.slice(1)}`)).text();
    expect(thread).toContain("Muted alice.example.org. Their messages still arrive");
    expect(thread).toContain(">Undo</button>");
    expect(thread).not.toContain('id="unread-badge"'); // the only unread message is muted
    expect(thread).toMatch(/<title>[^(]/);
    const off = await b.post(`${host.pmUrl}people/mute`, { csrf, site: ALICE, on: "0", back: "settings" });
    expect(off.headers.get("location")).toBe(`/settings?notice=unmuted&who=${encodeURIComponent(ALICE)}`);
    expect((await host.pm.settings(host.site)).muted).toEqual([]);
  });

  it("blocks and unblocks with the §7 block list", async () => {
    const b = new Browser();
    const csrf = Browser.csrf(await b.signIn(host));
    await b.post(`${host.pmUrl}people/block`, { csrf, site: ALICE, on: "1", back: "" });
    expect((await host.pm.settings(host.site)).blocked).toEqual([ALICE]);
    await b.post(`${host.pmUrl}people/block`, { csrf, site: ALICE, on: "0", back: "" });
    expect((await host.pm.settings(host.site)).blocked).toEqual([]);
  });

  it("returns only inside the inbox, and refuses a form without its token or naming no site", async () => {
    const b = new Browser();
    const csrf = Browser.csrf(await b.signIn(host));
    for (const back of ["//evil.example/", "https://evil.example/", "../../x", "c/x/../../y", "/settings"]) {
      const res = await b.post(`${host.pmUrl}people/mute`, { csrf, site: ALICE, on: "1", back });
      expect(res.headers.get("location")).toBe(`/?notice=muted&who=${encodeURIComponent(ALICE)}`);
    }
    expect((await b.post(`${host.pmUrl}people/mute`, { csrf: "guessed", site: ALICE, on: "1", back: "" })).status).toBe(403);
    expect((await b.post(`${host.pmUrl}people/mute`, { csrf, site: "not a site", on: "1", back: "" })).status).toBe(400);
    expect((await b.post(`${host.pmUrl}people/block`, { csrf, site: host.site, on: "1", back: "" })).status).toBe(400);
    expect((await host.pm.settings(host.site)).blocked).toEqual([]);
  });

  it("safeBack keeps paths under the inbox only", () => {
    expect(safeBack("c/abc_-1")).toBe("c/abc_-1");
    expect(safeBack("p/x")).toBe("p/x");
    expect(safeBack("settings")).toBe("settings");
    // One rule with sign-in's return (return-to.ts backPath): a page's query of plain characters is kept (a person's earlier messages).
    expect(safeBack("p/x?before=abc_1")).toBe("p/x?before=abc_1");
    for (const bad of ["", "/x", "//x", "x//y", "..", "c/..", "https://x", "c/x?y=<", "c/x#y", " c/x\n"]) {
      expect(safeBack(bad)).toBe(bad.trim() === "c/x" ? "c/x" : "");
    }
  });
});
