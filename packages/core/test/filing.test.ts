/**
 * Filing passes (owner/filing.ts; issue 11, the first inbox page of a process): the looks
 * for documents written before conversations (and chats, issue 12) were stored are made by
 * `PmServer.start()`, all sites at once, so the first owner read of a process does not pay
 * them; a filing found needed goes on after `start()` resolves and the reads wait for it.
 */
import { describe, expect, it } from "vitest";
import { ALICE, BOB, CAROL, bobsMessages } from "./support/messages.js";
import type { InboxDoc } from "../src/protocol/records.js";
import { createPmServer } from "../src/server.js";
import { createMemoryStore } from "../src/store/memory.js";
import type { CollectionName, Doc, Patch, Query, Scalar, Store } from "../src/store/types.js";

const { received, sent } = bobsMessages();
const quiet = { info() {}, warn() {}, error() {} };
const FAMILY = "https://bob.example.com/family/";

/**
 * `store` with its looks for unfiled documents counted (`find` where `conversation: null`:
 * `looks`; where `chat: null`: `chatLooks`), and its updates held while `hold` is set
 * (those filing a conversation, `set: {conversation}`, also while `holdConversations` is).
 */
function watched(store: Store) {
  const state = {
    looks: 0,
    chatLooks: 0,
    failLooks: 0,
    hold: undefined as Promise<void> | undefined,
    holdConversations: undefined as Promise<void> | undefined,
  };
  const wrapped: Store = Object.assign(Object.create(store) as Store, {
    async find<T extends Doc>(collection: CollectionName, query?: Query): Promise<T[]> {
      if (query?.where !== undefined && "chat" in query.where && query.where.chat === null) state.chatLooks++;
      if (query?.where !== undefined && "conversation" in query.where && query.where.conversation === null) {
        state.looks++;
        if (state.failLooks > 0) {
          state.failLooks--;
          throw new Error("the store went away");
        }
      }
      return store.find<T>(collection, query);
    },
    async update<T extends Doc>(collection: CollectionName, id: string, patch: Patch<T>, expect?: Record<string, Scalar>) {
      await state.hold;
      if (patch.set !== undefined && "conversation" in patch.set) await state.holdConversations;
      return store.update<T>(collection, id, patch, expect);
    },
  });
  return { store: wrapped, state };
}

const server = (store: Store) => createPmServer({ endpoint: "http://127.0.0.1:9/", sites: [BOB, FAMILY], store, dev: true, logger: quiet });

describe("filing of older documents, looked for at start", () => {
  it("start() looks in every site and box; the first owner reads of the process look no more", async () => {
    const { store, state } = watched(createMemoryStore());
    const pm = server(store);
    await pm.start();
    expect(state.looks).toBe(4); // two sites, inbox and outbox
    await pm.inboxPage({ limit: 10 });
    await pm.conversationsPage({ limit: 10 });
    await pm.outboxPage({ site: FAMILY });
    expect(state.looks).toBe(4);
    await pm.close();
  });

  it("an older folder: start() resolves while the filing goes on, and the first read waits for it", async () => {
    const memory = createMemoryStore();
    // The old shape: no conversation, no page key.
    await memory.insert("inbox", received("urn:a", ALICE));
    await memory.insert("inbox", received("urn:b", CAROL, { inReplyTo: "urn:a" }));
    const { store, state } = watched(memory);
    let release!: () => void;
    state.hold = new Promise((resolve) => (release = resolve));
    const pm = server(store);
    await pm.start();
    expect(await memory.count("inbox", { conversation: null })).toBe(2);
    const page = pm.inboxPage({ limit: 10 });
    release();
    expect((await page).items.map((m) => m.message)).toEqual(["urn:b", "urn:a"]);
    expect(await memory.count("inbox", { conversation: null })).toBe(0);
    expect((await pm.conversations()).map((c) => [c.root, c.messages])).toEqual([["urn:a", 2]]);
    await pm.close();
  });

  it("a look that fails at start does not fail start(); the first read looks again", async () => {
    const memory = createMemoryStore();
    await memory.insert("inbox", received("urn:a", ALICE));
    const { store, state } = watched(memory);
    state.failLooks = 2; // the first look of each site
    const pm = server(store);
    await pm.start();
    expect(state.looks).toBe(2);
    const page = await pm.inboxPage({ site: BOB });
    expect(page.items.map((m) => m.message)).toEqual(["urn:a"]);
    expect((await memory.find<InboxDoc>("inbox"))[0]?.conversation).toBeDefined();
    await pm.close();
  });

  it("start() looks for documents without a chat too; the first chat reads look no more", async () => {
    const { store, state } = watched(createMemoryStore());
    const pm = server(store);
    await pm.start();
    expect(state.chatLooks).toBe(4); // two sites, inbox and outbox
    await pm.chatsPage({ limit: 10 });
    await pm.chatsPage({ site: FAMILY });
    await pm.chat("no such chat");
    await pm.inboxPage({ limit: 10 });
    expect(state.chatLooks).toBe(4);
    await pm.close();
  });

  it("an older folder: its chats are filed after its conversations (the page keys they are sorted by), and the first read waits", async () => {
    const memory = createMemoryStore();
    // The old shape: no conversation, no page key, no chat.
    await memory.insert("inbox", received("urn:a", ALICE));
    await memory.insert("outbox", sent("urn:b", [ALICE], { inReplyTo: "urn:a" }));
    await memory.insert("inbox", received("urn:c", ALICE));
    await memory.insert("inbox", received("urn:d", CAROL));
    const { store, state } = watched(memory);
    // The conversations pass held: the chats pass, filing at once, would find no page keys.
    let release!: () => void;
    state.holdConversations = new Promise((resolve) => (release = resolve));
    const pm = server(store);
    await pm.start();
    expect(state.chatLooks).toBe(3); // bob's inbox has some (his outbox is not looked at), the family site's two boxes none
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await memory.count("inbox", { chat: null })).toBe(3);
    const page = pm.chatsPage({ site: BOB });
    release();
    expect((await page).items.map((c) => [c.people, c.last?.message, c.unread])).toEqual([
      [[CAROL], "urn:d", 1],
      [[ALICE], "urn:c", 2],
    ]);
    expect(await memory.count("inbox", { chat: null })).toBe(0);
    expect(await memory.count("chats")).toBe(2);
    await pm.close();
  });
});
