/**
 * PROTOCOL.md §3 (message flow) and §4 (token flow) end to end: the seed's four hosts
 * as real loopback servers, both flows, both directions; on each store (harness/stores.ts).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fourHosts, settled, type FourHosts } from "../harness/hosts.js";
import { storesForTests, useStore } from "../harness/stores.js";

for (const { store, skipReason } of await storesForTests()) {
  describe.skipIf(skipReason)(`on ${store}`, () => {
    useStore(store);

    let hosts: FourHosts;
    beforeEach(async () => {
      hosts = await fourHosts();
    });
    afterEach(async () => {
      await hosts.close();
    });

    /**
     * The steps both pm servers made, by step number. Events are recorded when an answer
     * arrives, and step 5 happens while step 4 waits for its answer, so they are sorted.
     */
    const steps = (h: FourHosts) => h.events.map((e) => `${e.step} ${e.action} ${e.status}`).sort();

    describe("§3 message flow", () => {
      it("delivers alice → bob through notify, verify, request and deliver", async () => {
        const { alice, bob } = hosts;
        const sent = await alice.pm.pm.send({ from: alice.site.url, to: [bob.site.url], content: "Hello Bob", subject: "Hi", flow: "message" });
        const done = await settled(alice.pm.pm, sent.message);
        expect(done.deliveries).toEqual([expect.objectContaining({ recipient: bob.site.url, status: "delivered" })]);
        const inbox = await bob.pm.pm.inbox();
        expect(inbox).toEqual([
          expect.objectContaining({ message: sent.message, sender: alice.site.url, recipient: bob.site.url, content: "Hello Bob", name: "Hi" }),
        ]);
        // The seed's six steps, in order.
        expect(steps(hosts)).toEqual(["1 discover 200", "2 notify 202", "3 discover 200", "3 verify 200", "4 request 202", "5 discover 200", "6 deliver 201"]);
      });

      it("delivers bob → alice the same way", async () => {
        const { alice, bob } = hosts;
        const sent = await bob.pm.pm.send({ from: bob.site.url, to: [alice.site.url], content: "Hello Alice", flow: "message" });
        expect((await settled(bob.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
        expect((await alice.pm.pm.inbox())[0]).toMatchObject({ sender: bob.site.url, content: "Hello Alice" });
      });

      it("each message needs its own handshake", async () => {
        const { alice, bob } = hosts;
        for (const content of ["one", "two"]) {
          const sent = await alice.pm.pm.send({ from: alice.site.url, to: [bob.site.url], content, flow: "message" });
          await settled(alice.pm.pm, sent.message);
        }
        await hosts.idle();
        expect(hosts.events.filter((e) => e.action === "notify")).toHaveLength(2);
        expect(await bob.pm.pm.inbox()).toHaveLength(2);
      });
    });

    describe.runIf(store === "postgres")("on PostgreSQL", () => {
      it("what the flow stores is in the database: rows of alice's and bob's schemas, counted by SQL", async () => {
        const { alice, bob, store: location } = hosts;
        if (location.kind !== "postgres") throw new Error(`the hosts run on ${location.kind}`);
        const sent = await alice.pm.pm.send({ from: alice.site.url, to: [bob.site.url], content: "Row by row" });
        expect((await settled(alice.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
        await hosts.idle();
        const rows = async (schema: string, table: string) => location.database.rows(schema, table);
        expect({
          aliceOutbox: await rows("alice", "outbox"),
          aliceDeliveries: await rows("alice", "deliveries"),
          bobInbox: await rows("bob", "inbox"),
        }).toEqual({
          aliceOutbox: 1,
          aliceDeliveries: 1,
          bobInbox: 1,
        });
        expect(bob.pm.store.shared).toBeDefined();
      });
    });

    describe("§4 token flow", () => {
      it("delivers alice → bob through authorize, verify, grant and deliver", async () => {
        const { alice, bob } = hosts;
        const sent = await alice.pm.pm.send({ from: alice.site.url, to: [bob.site.url], content: "Token hello" });
        expect((await settled(alice.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
        expect(steps(hosts)).toEqual(["1 discover 200", "2 authorize 202", "3 discover 200", "3 verify 200", "4 grant 202", "5 discover 200", "6 deliver 201"]);
        expect(hosts.events.at(-1)).toMatchObject({ action: "deliver", from: alice.pm.url, to: bob.pm.url });
        expect((await bob.pm.pm.inbox())[0]).toMatchObject({ sender: alice.site.url, content: "Token hello" });
      });

      it("delivers bob → alice the same way", async () => {
        const { alice, bob } = hosts;
        const sent = await bob.pm.pm.send({ from: bob.site.url, to: [alice.site.url], content: "Back at you" });
        expect((await settled(bob.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
        expect((await alice.pm.pm.inbox())[0]).toMatchObject({ sender: bob.site.url, content: "Back at you" });
      });

      it("reuses one standing token for several messages: one handshake", async () => {
        const { alice, bob } = hosts;
        const first = await alice.pm.pm.send({ from: alice.site.url, to: [bob.site.url], content: "1" });
        await settled(alice.pm.pm, first.message);
        for (const content of ["2", "3", "4"]) {
          const sent = await alice.pm.pm.send({ from: alice.site.url, to: [bob.site.url], content });
          expect((await settled(alice.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
        }
        await hosts.idle();
        expect(hosts.events.filter((e) => e.action === "authorize")).toHaveLength(1);
        expect(hosts.events.filter((e) => e.action === "grant")).toHaveLength(1);
        expect(hosts.events.filter((e) => e.action === "deliver")).toHaveLength(4);
        expect((await bob.pm.pm.inbox()).map((m) => m.content).sort()).toEqual(["1", "2", "3", "4"]);
        // The owner sees the one standing token bob's server granted, and that it was used.
        const tokens = await bob.pm.pm.tokens();
        expect(tokens).toEqual([expect.objectContaining({ sender: alice.site.url, recipient: bob.site.url, lastUsedAt: expect.any(String) })]);
      });

      it("messages written at once share one handshake", async () => {
        const { alice, bob } = hosts;
        const sent = await Promise.all(["a", "b", "c"].map((content) => alice.pm.pm.send({ from: alice.site.url, to: [bob.site.url], content })));
        for (const s of sent) expect((await settled(alice.pm.pm, s.message)).deliveries[0]!.status).toBe("delivered");
        await hosts.idle();
        expect(hosts.events.filter((e) => e.action === "authorize")).toHaveLength(1);
        expect(await bob.pm.pm.inbox()).toHaveLength(3);
      });
    });

    describe("§5 the message", () => {
      it("carries subject, HTML (sanitized), in-reply-to and a visible group", async () => {
        const { alice, bob } = hosts;
        const first = await bob.pm.pm.send({ from: bob.site.url, to: [alice.site.url], content: "Question?" });
        await settled(bob.pm.pm, first.message);
        const reply = await alice.pm.pm.send({
          from: alice.site.url,
          to: [bob.site.url],
          content: "Answer",
          html: '<p>Answer <img src=x onerror="alert(1)"><script>alert(2)</script><a href="javascript:alert(3)">x</a></p>',
          inReplyTo: first.message,
          subject: "Re: Question",
        });
        await settled(alice.pm.pm, reply.message);
        const got = (await bob.pm.pm.inbox()).find((m) => m.message === reply.message)!;
        expect(got).toMatchObject({ content: "Answer", name: "Re: Question", inReplyTo: first.message });
        expect(got.contentHtml).toContain("Answer");
        expect(got.contentHtml).not.toMatch(/onerror|<script|javascript:/i);
      });

      it("a reply without recipients goes to the thread's participants", async () => {
        const { alice, bob } = hosts;
        const first = await bob.pm.pm.send({ from: bob.site.url, to: [alice.site.url], content: "Ping" });
        await settled(bob.pm.pm, first.message);
        const reply = await alice.pm.pm.send({ from: alice.site.url, to: [], content: "Pong", inReplyTo: first.message });
        expect(reply.deliveries.map((d) => d.recipient)).toEqual([bob.site.url]);
        await settled(alice.pm.pm, reply.message);
        expect((await bob.pm.pm.inbox())[0]).toMatchObject({ content: "Pong", inReplyTo: first.message });
      });
    });
  });
}
