/**
 * `PmServer.send` writes a message's deliveries before the message (server.ts), so a crash
 * between the two leaves no message in the outbox that nothing delivers (§6 Durability).
 * What a refused send leaves behind.
 */
import { describe, expect, it } from "vitest";
import { createPmServer } from "../src/server.js";
import { createMemoryStore } from "../src/store/memory.js";
import { DuplicateKeyError, type Store } from "../src/store/types.js";
import { PmError } from "../src/errors.js";

const SITE = "https://bob.example.com/";
const quiet = { info() {}, warn() {}, error() {} };
const serverOn = (store: Store) => createPmServer({ endpoint: "https://pm.example.net/", sites: [SITE], store, logger: quiet });

describe("PmServer.send: what a refused send leaves", () => {
  it("an ID already used is refused and leaves none of the new deliveries queued", async () => {
    const store = createMemoryStore();
    const pm = serverOn(store);
    await pm.send({ from: SITE, to: ["https://alice.example.org/"], content: "first", id: "urn:uuid:one" });
    await expect(pm.send({ from: SITE, to: ["https://carol.example/"], content: "again", id: "urn:uuid:one" })).rejects.toThrow();
    const deliveries = await store.find<{ _id: string; recipient: string }>("deliveries");
    expect(deliveries.map((d) => d.recipient)).toEqual(["https://alice.example.org/"]);
    expect(await store.count("outbox")).toBe(1);
    await pm.close();
  });

  it("an ID taken meanwhile by another process (the message's insert refused as a duplicate) leaves none of its deliveries queued", async () => {
    const store = createMemoryStore();
    const racing: Store = {
      ...store,
      insert: async (collection, doc) => {
        if (collection === "outbox") throw new DuplicateKeyError("outbox", doc._id);
        return store.insert(collection, doc);
      },
    };
    const pm = serverOn(racing);
    await expect(pm.send({ from: SITE, to: ["https://alice.example.org/", "https://carol.example/"], content: "hi", id: "urn:uuid:raced" })).rejects.toThrow(
      DuplicateKeyError,
    );
    expect(await store.count("deliveries")).toBe(0);
    await pm.close();
  });

  it("a store failure at the message keeps its deliveries (it may have been stored all the same)", async () => {
    const store = createMemoryStore();
    const failing: Store = {
      ...store,
      insert: async (collection, doc) => {
        if (collection === "outbox") throw new PmError("store_error", "The database went away.");
        return store.insert(collection, doc);
      },
    };
    const pm = serverOn(failing);
    await expect(pm.send({ from: SITE, to: ["https://alice.example.org/"], content: "hi", id: "urn:uuid:two" })).rejects.toThrow(/went away/);
    expect(await store.count("deliveries")).toBe(1);
    await pm.close();
  });
});
