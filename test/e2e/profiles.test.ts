/**
 * Profiles follow the protocol, not the owner's reading (core owner/profiles.ts): when
 * alice's server discovers bob's site to send to him, it reads his h-card in the
 * background too; nobody opened a page. Run on each store (harness/stores.ts).
 */
import { describe, expect, it } from "vitest";
import { startHosts as start } from "../harness/scoped.js";
import { settled, waitFor } from "../harness/hosts.js";
import { storesForTests, useStore } from "../harness/stores.js";

for (const { store, skipReason } of await storesForTests()) {
  describe.skipIf(skipReason)(`on ${store}`, () => {
    useStore(store);

    it("sending to bob reads his h-card: alice's server keeps his name without any page opened", async () => {
      const h = await start();
      h.bob.site.body = `<div class="h-card"><a class="u-url u-uid p-name" href="${h.bob.site.url}">Bob Example</a></div>`;
      const alice = h.alice.pm.pm;
      const sent = await alice.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "hello" });
      await settled(alice, sent.message);
      // The store itself, not people() (which would read a profile never read).
      const kept = await waitFor(
        async () => (await h.alice.pm.store.find<{ _id: string; site: string; name?: string }>("profiles")).find((p) => p.name),
        10_000,
        "bob's profile",
      );
      expect(kept).toMatchObject({ site: h.bob.site.url, name: "Bob Example" });
    });
  });
}
