/**
 * Issue 9 item 10: deleting leaves nothing on disk. nedb appends every write, so a
 * deleted message stayed readable in `inbox.db`/`outbox.db` until the next start. Real
 * deliveries between two loopback pm servers with nedb stores, then the owner deletes;
 * the raw files of the data folders are read back (every file, recursively) for the
 * message's text.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { settled } from "../harness/hosts.js";
import { startHosts } from "../harness/scoped.js";

/** Every file under `dir` that contains `marker`, as paths relative to `dir`. */
async function filesContaining(dir: string, marker: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = join(entry.parentPath, entry.name);
    if ((await readFile(file, "utf8")).includes(marker)) found.push(file.slice(dir.length + 1));
  }
  return found;
}

describe("deleting leaves nothing on disk (nedb compaction)", () => {
  it("delete everything: no message text remains in either data folder", async () => {
    const { alice, bob, dataDir } = await startHosts();
    const marker = `secret-${crypto.randomUUID()}`;
    for (const flow of ["message", "token"] as const) {
      const sent = await alice.pm.pm.send({ from: alice.site.url, to: [bob.site.url], content: `${marker} by ${flow}`, subject: marker, flow });
      expect((await settled(alice.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
    }
    // Read marks rewrite the document: more lines holding the text.
    const [conversation] = await bob.pm.pm.conversations();
    await bob.pm.pm.markRead({ conversation: conversation!.id }, true);
    // The conversations' summaries hold the subject and the latest text too (issue 11).
    expect((await filesContaining(dataDir, marker)).sort()).toEqual(["alice/conversations.db", "alice/outbox.db", "bob/conversations.db", "bob/inbox.db"]);

    expect(await bob.pm.pm.deleteAll()).toBe(2);
    expect(await alice.pm.pm.deleteAll()).toBe(2);
    // At once: deleteAll compacts before it answers.
    expect(await filesContaining(dataDir, marker)).toEqual([]);
    expect(await bob.pm.pm.inbox()).toEqual([]);
  });
});
