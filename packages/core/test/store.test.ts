/**
 * Both adapters against the shared contract, then what only the nedb adapter promises:
 * data on disk after each write and across reopen, the one-process lock, repair of a torn
 * last line, refusal of other corruption, compaction on close.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readdir, readFile, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { PmError } from "../src/errors.js";
import { createMemoryStore } from "../src/store/memory.js";
import { openNedbStore, type NedbStoreOptions } from "../src/store/nedb/index.js";
import type { Doc, Store } from "../src/store/types.js";

/** A document with any fields. */
type Row = Doc & Record<string, unknown>;
import { describeStoreContract } from "./store-contract.js";

async function makeTempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), "indiepm-store-"));
}

describeStoreContract("memory", async () => {
  const store = createMemoryStore();
  return { store, cleanup: () => store.close() };
});

describeStoreContract("nedb", async () => {
  const dir = await makeTempDir();
  const store = await openNedbStore({ dir });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

/** The lines of a datafile as parsed JSON, in file order. */
async function datafileLines(file: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(file, "utf8");
  return text
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

function documentLines(lines: Record<string, unknown>[]): Record<string, unknown>[] {
  return lines.filter((line) => typeof line._id === "string");
}

/** A node process of our own that stays alive until killed. */
async function startIdleProcess(): Promise<ChildProcess & { pid: number }> {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  await once(child, "spawn");
  if (child.pid === undefined) throw new Error("The child process has no pid.");
  return child as ChildProcess & { pid: number };
}

/** The pid of a node process that has already exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await once(child, "exit");
  if (child.pid === undefined) throw new Error("The child process has no pid.");
  return child.pid;
}

describe("nedb store only", () => {
  let dir: string;
  const opened: Store[] = [];
  const children: ChildProcess[] = [];

  async function openStore(options: Omit<NedbStoreOptions, "dir"> = {}): Promise<Store> {
    const store = await openNedbStore({ dir, ...options });
    opened.push(store);
    return store;
  }
  const keepOpened = (store: Store) => opened.push(store);

  beforeEach(async () => {
    dir = await makeTempDir();
  });
  afterEach(async () => {
    for (const child of children.splice(0)) child.kill();
    for (const store of opened.splice(0)) await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe("durability: data on disk", () => {
    it("creates the data folder, with its parents, when missing", async () => {
      const nested = path.join(dir, "a", "b");
      const store = await openNedbStore({ dir: nested });
      opened.push(store);
      await store.insert("outbox", { _id: "m1" });
      expect(await readdir(nested)).toEqual(expect.arrayContaining(["LOCK", "outbox.db", "inbox.db", "deliveries.db"]));
    });

    it("each write is in the datafile when its promise resolves", async () => {
      const store = await openStore();
      const file = path.join(dir, "deliveries.db");
      await store.insert("deliveries", { _id: "d1", status: "pending" });
      expect(documentLines(await datafileLines(file)).at(-1)).toEqual({ _id: "d1", status: "pending" });
      await store.update<Row>("deliveries", "d1", { set: { status: "delivered" } }, { status: "pending" });
      expect(documentLines(await datafileLines(file)).at(-1)).toEqual({ _id: "d1", status: "delivered" });
      await store.put("deliveries", { _id: "d1", status: "failed" });
      expect(documentLines(await datafileLines(file)).at(-1)).toEqual({ _id: "d1", status: "failed" });
      await store.remove("deliveries", "d1");
      expect(documentLines(await datafileLines(file)).at(-1)).toEqual({ _id: "d1", $$deleted: true });
    });

    it("a fresh process reads what was written, without close", async () => {
      const store = await openStore();
      await store.insert("inbox", { _id: "m1", content: "hello\u2028world" });
      // A separate node process reads the file: the write left this process.
      const child = spawn(
        process.execPath,
        [
          "-e",
          "const fs = require('fs'); process.stdout.write(JSON.stringify(fs.readFileSync(process.argv[1], 'utf8').split('\\n').filter(Boolean).map((l) => JSON.parse(l)).filter((d) => d._id)))",
          path.join(dir, "inbox.db"),
        ],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      let output = "";
      child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
      await once(child, "exit");
      expect(JSON.parse(output)).toEqual([{ _id: "m1", content: "hello\u2028world" }]);
    });

    it("data survives close and reopen", async () => {
      const first = await openStore();
      const content = "line\u2028separator\u2029paragraph\u0085next line";
      await first.insert("inbox", { _id: "m1", recipient: "https://a.example/", content, to: ["https://a.example/"] });
      await first.insert("inbox", { _id: "m2", recipient: "https://b.example/", content: "gone soon" });
      await first.put("settings", { _id: "site", contacts: { "https://a.example/": { name: "A" } } });
      await first.insert("deliveries", { _id: "d1", status: "pending", error: "timeout" });
      await first.update<Row>("deliveries", "d1", { set: { status: "delivered" }, unset: ["error"] });
      await first.remove("inbox", "m2");
      await first.close();

      const second = await openStore();
      expect(await second.find("inbox")).toEqual([{ _id: "m1", recipient: "https://a.example/", content, to: ["https://a.example/"] }]);
      expect(await second.get("settings", "site")).toEqual({ _id: "site", contacts: { "https://a.example/": { name: "A" } } });
      expect(await second.get("deliveries", "d1")).toStrictEqual({ _id: "d1", status: "delivered" });
    });

    it("writes U+2028, U+2029 and U+0085 escaped, so nedb's line reader keeps the line whole", async () => {
      const store = await openStore();
      await store.insert("inbox", { _id: "m1", content: "a\u2028b\u2029c\u0085d" });
      const text = await readFile(path.join(dir, "inbox.db"), "utf8");
      expect(text).not.toMatch(/[\u0085\u2028\u2029]/);
      expect(text).toContain("a\\u2028b\\u2029c\\u0085d");
    });

    it("adds no createdAt/updatedAt, and keeps a document's own", async () => {
      const store = await openStore();
      await store.insert("outbox", { _id: "m1" });
      await store.insert("deliveries", { _id: "d1", updatedAt: "2025-01-01T00:00:00Z" });
      await store.update<Row>("deliveries", "d1", { set: { status: "delivered" } });
      expect(await store.get("outbox", "m1")).toStrictEqual({ _id: "m1" });
      expect(await store.get("deliveries", "d1")).toStrictEqual({ _id: "d1", updatedAt: "2025-01-01T00:00:00Z", status: "delivered" });
    });
  });

  describe("lock: one process per data folder", () => {
    const inUse = (folder: string, pid: number) =>
      `The data folder ${folder} is in use by another indiepm process (pid ${pid}); stop it or use another --data folder.`;

    it("holds dir/LOCK with the pid and start time while open, and removes it on close", async () => {
      const store = await openStore();
      const lock = JSON.parse(await readFile(path.join(dir, "LOCK"), "utf8")) as Record<string, unknown>;
      expect(lock).toMatchObject({ pid: process.pid, startedAt: expect.any(String) });
      await store.close();
      expect(await readdir(dir)).not.toContain("LOCK");
    });

    const openHere = (folder: string) =>
      `The data folder ${folder} is already open in this process (pid ${process.pid}); close that store first or use another --data folder.`;

    it("refuses a second opener in the same process, then opens once the first closed", async () => {
      const first = await openStore();
      const error = await openNedbStore({ dir }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(PmError);
      expect(error).toMatchObject({ code: "store_error", message: openHere(dir) });
      // Under another name for the same folder (a symlink) too.
      const alias = `${dir}-alias`;
      await symlink(dir, alias);
      await expect(openNedbStore({ dir: alias })).rejects.toMatchObject({ code: "store_error", message: openHere(alias) });
      await rm(alias);
      await first.close();
      const second = await openStore();
      expect(await second.count("outbox")).toBe(0);
    });

    it("of two opens started together in one process, one opens and the other refuses", async () => {
      const results = await Promise.allSettled([openNedbStore({ dir }), openNedbStore({ dir })]);
      const opened = results.filter((r): r is PromiseFulfilledResult<Store> => r.status === "fulfilled").map((r) => r.value);
      for (const store of opened) keepOpened(store);
      expect(opened).toHaveLength(1);
      expect(results.find((r) => r.status === "rejected")).toMatchObject({ reason: { code: "store_error", message: openHere(dir) } });
    });

    it("takes over a lock naming this process's pid that this process does not hold (a restarted PID 1 container)", async () => {
      // Written by the previous life of this pid: same pid, another open's token.
      await writeFile(path.join(dir, "LOCK"), JSON.stringify({ pid: process.pid, startedAt: "2020-01-01T00:00:00.000Z", token: "previous-life" }));
      const onRepair = vi.fn();
      const store = await openStore({ onRepair });
      expect(onRepair).toHaveBeenCalledWith(
        `Took over the lock of an earlier process with this process's pid ${process.pid} (a restarted container) in the data folder ${dir}.`,
      );
      const lock = JSON.parse(await readFile(path.join(dir, "LOCK"), "utf8")) as Record<string, unknown>;
      expect(lock).toMatchObject({ pid: process.pid, token: expect.any(String) });
      expect(lock.token).not.toBe("previous-life");
      await store.insert("outbox", { _id: "m1" });
      // ...and still refuses a second open while it holds the folder.
      await expect(openNedbStore({ dir })).rejects.toMatchObject({ code: "store_error", message: openHere(dir) });
    });

    it("refuses while another live process holds the lock", async () => {
      const child = await startIdleProcess();
      children.push(child);
      await writeFile(path.join(dir, "LOCK"), JSON.stringify({ pid: child.pid, startedAt: new Date().toISOString() }));
      await expect(openNedbStore({ dir })).rejects.toMatchObject({ code: "store_error", message: inUse(dir, child.pid) });
      // The refused opener leaves the other process's lock alone.
      expect(JSON.parse(await readFile(path.join(dir, "LOCK"), "utf8"))).toMatchObject({ pid: child.pid });
    });

    it("takes over the lock of a process that no longer runs", async () => {
      const pid = await deadPid();
      await writeFile(path.join(dir, "LOCK"), JSON.stringify({ pid, startedAt: "2020-01-01T00:00:00.000Z" }));
      const onRepair = vi.fn();
      const store = await openStore({ onRepair });
      expect(onRepair).toHaveBeenCalledWith(expect.stringContaining(`process ${pid}, which no longer runs`));
      expect(JSON.parse(await readFile(path.join(dir, "LOCK"), "utf8"))).toMatchObject({ pid: process.pid });
      await store.insert("outbox", { _id: "m1" });
    });

    it("takes over an unreadable (empty) lock left by a crash", async () => {
      await writeFile(path.join(dir, "LOCK"), "");
      const onRepair = vi.fn();
      await openStore({ onRepair });
      expect(onRepair).toHaveBeenCalledWith(expect.stringContaining("unreadable lock"));
    });

    it("close does not remove a lock that another opener has taken since", async () => {
      const store = await openStore();
      await writeFile(path.join(dir, "LOCK"), JSON.stringify({ pid: 999_999, startedAt: "x" }));
      await store.close();
      expect(await readdir(dir)).toContain("LOCK");
    });
  });

  describe("corrupt datafiles", () => {
    const fiveDocuments = `${Array.from({ length: 5 }, (_, n) => JSON.stringify({ _id: `s${n}`, hash: `h${n}` })).join("\n")}\n`;

    it("repairs a torn last line: original kept aside, data kept, onRepair told", async () => {
      const file = path.join(dir, "secrets.db");
      const original = `${fiveDocuments}{"_id":"s5","ha`;
      await writeFile(file, original);
      const onRepair = vi.fn();
      const store = await openStore({ onRepair });

      expect((await store.find("secrets", { sort: { field: "_id", order: "asc" } })).map((doc) => doc._id)).toEqual(["s0", "s1", "s2", "s3", "s4"]);
      const aside = (await readdir(dir)).filter((name) => name.startsWith("secrets.db.torn-"));
      expect(aside).toHaveLength(1);
      expect(await readFile(path.join(dir, aside[0] ?? ""), "utf8")).toBe(original);
      expect(onRepair).toHaveBeenCalledOnce();
      expect(onRepair.mock.calls[0]?.[0]).toMatch(
        /^The data file .*secrets\.db ended with a torn line \(line 6, a write cut short\); it was dropped and the original kept as .*secrets\.db\.torn-/,
      );
      // The repaired file loads again without repair, and takes new writes.
      await store.insert("secrets", { _id: "s5", hash: "h5" });
      await store.close();
      const reopened = await openStore({ onRepair });
      expect(await reopened.count("secrets")).toBe(6);
      expect(onRepair).toHaveBeenCalledOnce();
    });

    it("a file that is only a torn line opens empty", async () => {
      await writeFile(path.join(dir, "outbox.db"), '{"_id":"m1","con');
      const store = await openStore();
      expect(await store.count("outbox")).toBe(0);
    });

    it("refuses a corrupt line before the last, naming the file and line, and changes nothing", async () => {
      const file = path.join(dir, "secrets.db");
      const original = `${JSON.stringify({ _id: "s0" })}\n{not json\n${fiveDocuments}`;
      await writeFile(file, original);
      const error = await openNedbStore({ dir }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(PmError);
      expect(error).toMatchObject({ code: "store_error" });
      expect((error as Error).message).toBe(
        `The data file ${file} is corrupt (1 of 7 lines unreadable); restore it from a backup, or remove the unreadable lines (line 2) and start again.`,
      );
      expect(await readFile(file, "utf8")).toBe(original);
      // The refused opener released the lock: fixing the file is enough to start again.
      expect(await readdir(dir)).not.toContain("LOCK");
      await writeFile(file, fiveDocuments);
      expect(await (await openStore()).count("secrets")).toBe(5);
    });

    it("refuses heavy corruption (torn last line included), naming the lines", async () => {
      const file = path.join(dir, "inbox.db");
      await writeFile(file, `garbage\n${fiveDocuments}\u0000\u0000\u0000\n{"_id":"x","a`);
      await expect(openNedbStore({ dir })).rejects.toMatchObject({
        code: "store_error",
        message: `The data file ${file} is corrupt (3 of 8 lines unreadable); restore it from a backup, or remove the unreadable lines (lines 1, 7, 8) and start again.`,
      });
    });

    it("refuses even one bad line in a large file, which nedb alone would drop silently", async () => {
      const file = path.join(dir, "inbox.db");
      const lines = Array.from({ length: 100 }, (_, n) => JSON.stringify({ _id: `m${n}` }));
      lines[50] = "{broken";
      await writeFile(file, `${lines.join("\n")}\n`);
      await expect(openNedbStore({ dir })).rejects.toMatchObject({ code: "store_error", message: expect.stringContaining("(1 of 100 lines unreadable)") });
    });
  });

  describe("compaction and indexes", () => {
    it("close compacts: one line per document after many updates", async () => {
      const store = await openStore();
      await store.insert("deliveries", { _id: "d1", attempts: 0 });
      await store.insert("deliveries", { _id: "d2", attempts: 0 });
      for (let n = 1; n <= 5; n++) await store.update<Row>("deliveries", "d1", { set: { attempts: n } });
      await store.remove("deliveries", "d2");
      const file = path.join(dir, "deliveries.db");
      expect(documentLines(await datafileLines(file)).length).toBeGreaterThan(6);
      await store.close();
      expect(documentLines(await datafileLines(file))).toEqual([{ _id: "d1", attempts: 5 }]);
    });

    it("compactOnClose: false leaves the appended lines", async () => {
      const store = await openStore({ compactOnClose: false });
      await store.insert("deliveries", { _id: "d1", attempts: 0 });
      for (let n = 1; n <= 3; n++) await store.update<Row>("deliveries", "d1", { set: { attempts: n } });
      await store.close();
      expect(documentLines(await datafileLines(path.join(dir, "deliveries.db")))).toHaveLength(4);
    });

    it("a removed document leaves its datafile within compactAfterRemoveMs, without close", async () => {
      const store = await openStore({ compactAfterRemoveMs: 100 });
      const marker = `gone-${crypto.randomUUID()}`;
      await store.insert("inbox", { _id: "m1", content: marker });
      await store.update<Row>("inbox", "m1", { set: { read: true } });
      await store.insert("inbox", { _id: "m2", content: "kept" });
      await store.remove("inbox", "m1");
      const file = path.join(dir, "inbox.db");
      // Appended so far: the text is still on disk right after the remove.
      expect(await readFile(file, "utf8")).toContain(marker);
      await vi.waitFor(async () => expect(await readFile(file, "utf8")).not.toContain(marker), { timeout: 5_000, interval: 25 });
      expect(documentLines(await datafileLines(file))).toEqual([{ _id: "m2", content: "kept" }]);
    });

    it("compact() rewrites at once; with compactOnClose: false, close still rewrites what held removed documents", async () => {
      const store = await openStore({ compactOnClose: false });
      const marker = `gone-${crypto.randomUUID()}`;
      await store.insert("outbox", { _id: "m1", content: marker });
      await store.remove("outbox", "m1");
      await store.compact!();
      expect(await readFile(path.join(dir, "outbox.db"), "utf8")).not.toContain(marker);
      await store.insert("inbox", { _id: "m2", content: marker });
      await store.remove("inbox", "m2");
      await store.close();
      expect(await readFile(path.join(dir, "inbox.db"), "utf8")).not.toContain(marker);
      await expect(store.compact!()).rejects.toMatchObject({ code: "store_error" });
    });

    it("indexes the fields the engine queries by default", async () => {
      await (await openStore()).close();
      const indexed = async (collection: string) =>
        (await datafileLines(path.join(dir, `${collection}.db`))).flatMap((line) => {
          const created = line.$$indexCreated as { fieldName?: string } | undefined;
          return created?.fieldName === undefined ? [] : [created.fieldName];
        });
      expect((await indexed("deliveries")).sort()).toEqual(["handshake", "message", "nextAttemptAt", "status"]);
      expect((await indexed("inbox")).sort()).toEqual(["chat", "conversation", "message", "pageKey", "receivedAt", "recipient"]);
      expect((await indexed("outbox")).sort()).toEqual(["chat", "conversation", "message", "pageKey", "sender"]);
      expect((await indexed("conversations")).sort()).toEqual(["lastKey", "site"]);
      expect((await indexed("chats")).sort()).toEqual(["lastKey", "site"]);
      expect((await indexed("handshakes")).sort()).toEqual(["senderHost", "state"]);
      expect(await indexed("secrets")).toEqual(["expiresAt"]);
    });

    it("the indexes option replaces a collection's list, and dropped indexes go", async () => {
      await (await openStore({ indexes: { deliveries: ["recipient"], secrets: ["expiresAt"] } })).close();
      const lines = await datafileLines(path.join(dir, "deliveries.db"));
      expect(lines.flatMap((line) => (line.$$indexCreated ? [(line.$$indexCreated as { fieldName: string }).fieldName] : []))).toEqual(["recipient"]);
      const secrets = await datafileLines(path.join(dir, "secrets.db"));
      expect(secrets).toEqual([{ $$indexCreated: { fieldName: "expiresAt", unique: false, sparse: false } }]);
    });

    it("queries on indexed fields give the same answers (null included)", async () => {
      const store = await openStore();
      await store.insert("deliveries", { _id: "d1", status: "pending", nextAttemptAt: 5 });
      await store.insert("deliveries", { _id: "d2", nextAttemptAt: 1 });
      await store.insert("deliveries", { _id: "d3", status: null, nextAttemptAt: 3 });
      expect((await store.find("deliveries", { where: { status: null }, sort: { field: "nextAttemptAt", order: "asc" } })).map((doc) => doc._id)).toEqual([
        "d2",
        "d3",
      ]);
      expect(await store.count("deliveries", { status: "pending" })).toBe(1);
      expect((await store.find("deliveries", { range: { field: "nextAttemptAt", gte: 3 } })).map((doc) => doc._id).sort()).toEqual(["d1", "d3"]);
    });
  });

  describe("options are checked when opening", () => {
    const rows: { name: string; options: unknown; message: RegExp }[] = [
      { name: "no dir", options: {}, message: /dir must name the data folder/ },
      { name: "an empty dir", options: { dir: " " }, message: /dir must name the data folder/ },
      { name: "an unknown collection in indexes", options: { dir: "x", indexes: { messages: ["a"] } }, message: /unknown collection messages/ },
      { name: "a dotted index field", options: { dir: "x", indexes: { inbox: ["a.b"] } }, message: /"a\.b" in indexes\.inbox/ },
      { name: "compactOnClose not a boolean", options: { dir: "x", compactOnClose: "yes" }, message: /compactOnClose must be true or false/ },
    ];
    it.each(rows)("$name → invalid_config", async ({ options, message }) => {
      const error = await openNedbStore(options as NedbStoreOptions).catch((caught: unknown) => caught);
      expect(error).toMatchObject({ code: "invalid_config" });
      expect((error as Error).message).toMatch(message);
    });
  });
});

it("nedb alone refuses a 5-document file with a torn last line (why the adapter repairs it)", async () => {
  const dir = await makeTempDir();
  try {
    const file = path.join(dir, "plain.db");
    await writeFile(file, `${Array.from({ length: 5 }, (_, n) => JSON.stringify({ _id: `s${n}` })).join("\n")}\n{"_id":"s5","ha`);
    const { default: Datastore } = await import("nedb-promises");
    const error = await Datastore.create({ filename: file })
      .load()
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({
      message: "16% of the data file is corrupt, more than given corruptAlertThreshold (10%). Cautiously refusing to start NeDB to prevent dataloss.",
      corruptItems: 1,
      dataLength: 6,
      corruptionRate: 1 / 6,
    });
    expect(error).not.toHaveProperty("errorType");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
