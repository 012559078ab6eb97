/**
 * PROTOCOL.md §7 as the owner keeps it, end to end between the seed's hosts: the
 * block list (403 before any fetch, and at deliver with a standing token), contacts
 * mode with automatic contacts and a vouch, and the owner's webhook.
 */
import type { IncomingMessage } from "node:http";
import { startLoopbackServer } from "@indiepm/test-support";
import { afterEach, describe, expect, it } from "vitest";
import { fourHosts, LoopbackHost, settled, storeCounts, waitFor, type FourHosts } from "../harness/hosts.js";

let hosts: FourHosts | undefined;
const extra: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await hosts?.close();
  hosts = undefined;
  for (const e of extra.splice(0)) await e.close();
});

describe("§7 block list", () => {
  it("403-blocked-at-notify: a blocked sender is refused before the recipient fetches anything", async () => {
    hosts = await fourHosts();
    const { alice, bob } = hosts;
    await bob.pm.pm.updateSettings(bob.site.url, { block: [alice.site.url] });
    const before = alice.site.requests;
    const sent = await alice.pm.pm.send({ from: alice.site.url, to: [bob.site.url], content: "Let me in", flow: "message" });
    const done = await settled(alice.pm.pm, sent.message);
    expect(done.deliveries[0]).toMatchObject({ status: "failed", error: "forbidden" });
    // Once all is idle: bob's endpoint never fetched alice's site (§7: before any fetch), nor stored any work.
    await hosts.idle();
    expect(alice.site.requests).toBe(before);
    expect(await storeCounts(bob.pm.store)).toMatchObject({ handshakes: 0, secrets: 0, inbox: 0 });
    expect(await bob.pm.pm.inbox()).toEqual([]);
  });

  it("403-blocked-with-standing-token: a block wins over a token granted before", async () => {
    hosts = await fourHosts();
    const { alice, bob } = hosts;
    const first = await alice.pm.pm.send({ from: alice.site.url, to: [bob.site.url], content: "one" });
    expect((await settled(alice.pm.pm, first.message)).deliveries[0]!.status).toBe("delivered");
    await bob.pm.pm.updateSettings(bob.site.url, { block: [alice.site.url] });
    const second = await alice.pm.pm.send({ from: alice.site.url, to: [bob.site.url], content: "two" });
    expect((await settled(alice.pm.pm, second.message)).deliveries[0]).toMatchObject({ status: "failed", error: "forbidden" });
    expect((await bob.pm.pm.inbox()).map((m) => m.content)).toEqual(["one"]);
  });
});

describe("§7 block list by host (issue 9 item 10)", () => {
  it("403-blocked-by-host: a host: entry refuses the sites of that host, at deliver with a standing token and at notify before any fetch", async () => {
    hosts = await fourHosts();
    const { alice, bob } = hosts;
    const first = await alice.pm.pm.send({ from: alice.site.url, to: [bob.site.url], content: "one" });
    expect((await settled(alice.pm.pm, first.message)).deliveries[0]!.status).toBe("delivered");
    await bob.pm.pm.updateSettings(bob.site.url, { block: [`host:${new URL(alice.site.url).host}`] });
    const second = await alice.pm.pm.send({ from: alice.site.url, to: [bob.site.url], content: "two (standing token)" });
    expect((await settled(alice.pm.pm, second.message)).deliveries[0]).toMatchObject({ status: "failed", error: "forbidden" });
    const before = alice.site.requests;
    const third = await alice.pm.pm.send({ from: alice.site.url, to: [bob.site.url], content: "three (message flow)", flow: "message" });
    expect((await settled(alice.pm.pm, third.message)).deliveries[0]).toMatchObject({ status: "failed", error: "forbidden" });
    await hosts.idle();
    expect(alice.site.requests).toBe(before);
    expect((await bob.pm.pm.inbox()).map((m) => m.content)).toEqual(["one"]);
  });
});

describe("§7 contacts mode", () => {
  it("admits a site it wrote to (automatic contact) and refuses a stranger", async () => {
    hosts = await fourHosts();
    const { alice, bob } = hosts;
    await alice.pm.pm.updateSettings(alice.site.url, { policy: "contacts" });
    const stranger = await bob.pm.pm.send({ from: bob.site.url, to: [alice.site.url], content: "Hi stranger" });
    expect((await settled(bob.pm.pm, stranger.message)).deliveries[0]).toMatchObject({ status: "failed", error: "forbidden" });
    const hello = await alice.pm.pm.send({ from: alice.site.url, to: [bob.site.url], content: "Hi Bob" });
    await settled(alice.pm.pm, hello.message);
    expect((await alice.pm.pm.settings(alice.site.url)).wroteTo).toEqual([bob.site.url]);
    const reply = await bob.pm.pm.send({ from: bob.site.url, to: [alice.site.url], content: "Hi Alice", inReplyTo: hello.message });
    expect((await settled(bob.pm.pm, reply.message)).deliveries[0]!.status).toBe("delivered");
  });

  it("admits a first contact by a vouch page on a contact's site that links to the sender", async () => {
    hosts = await fourHosts();
    const { alice, bob } = hosts;
    // carol.example: bob's contact; her page links to alice's site.
    const carol = new LoopbackHost();
    carol.handler = (_req, res) => {
      res.setHeader("content-type", "text/html; charset=utf-8");
      res.end(`<!doctype html><title>Carol's friends</title><a href="${alice.site.url}">Alice</a>`);
    };
    await carol.listen();
    extra.push({ close: () => carol.stop() });
    await bob.pm.pm.updateSettings(bob.site.url, { policy: "contacts", addContacts: [carol.url] });

    const unvouched = await alice.pm.pm.send({ from: alice.site.url, to: [bob.site.url], content: "Hi (no vouch)" });
    expect((await settled(alice.pm.pm, unvouched.message)).deliveries[0]).toMatchObject({ status: "failed", error: "forbidden" });
    const offsite = await alice.pm.pm.send({ from: alice.site.url, to: [bob.site.url], content: "Hi (vouch off-site)", vouch: `${alice.site.url}friends` });
    expect((await settled(alice.pm.pm, offsite.message)).deliveries[0]).toMatchObject({ status: "failed", error: "forbidden" });
    const vouched = await alice.pm.pm.send({
      from: alice.site.url,
      to: [bob.site.url],
      content: "Hi, Carol sent me",
      vouch: `${carol.url}friends`,
      flow: "message",
    });
    expect((await settled(alice.pm.pm, vouched.message)).deliveries[0]!.status).toBe("delivered");
    expect((await bob.pm.pm.inbox()).map((m) => m.content)).toEqual(["Hi, Carol sent me"]);
  });
});

describe("notifications: the owner's webhook", () => {
  it("POSTs a small JSON document for each new message, retried after a 5xx", async () => {
    const posts: { body: unknown; type: string | undefined }[] = [];
    let answers = [503, 204];
    const hook = await startLoopbackServer((req: IncomingMessage, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        posts.push({ body: JSON.parse(body), type: req.headers["content-type"] });
        res.statusCode = answers.shift() ?? 204;
        res.end();
      });
    });
    extra.push(hook);
    const hookUrl = `${hook.url}hook`;

    hosts = await fourHosts();
    const { alice, bob } = hosts;
    await bob.pm.pm.updateSettings(bob.site.url, { webhook: hookUrl });
    const sent = await alice.pm.pm.send({ from: alice.site.url, to: [bob.site.url], subject: "Tea?", content: "Tea at five?" });
    await settled(alice.pm.pm, sent.message);
    await waitFor(() => posts.length >= 2, 10_000, "the webhook to be retried");
    expect(posts[1]).toEqual({
      type: "application/json",
      body: expect.objectContaining({
        type: "message",
        recipient: bob.site.url,
        sender: alice.site.url,
        message: sent.message,
        name: "Tea?",
        excerpt: "Tea at five?",
      }),
    });
    // Delivered: nothing left queued.
    await waitFor(async () => (await bob.pm.store.count("webhooks")) === 0, 5_000, "the webhook job to end");
    answers = [];
  });

  it("announces nothing of a muted correspondent's message, which still arrives (issue 12)", async () => {
    const posts: unknown[] = [];
    const hook = await startLoopbackServer((req: IncomingMessage, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        posts.push(JSON.parse(body));
        res.statusCode = 204;
        res.end();
      });
    });
    extra.push(hook);
    hosts = await fourHosts();
    const { alice, bob } = hosts;
    await bob.pm.pm.updateSettings(bob.site.url, { webhook: `${hook.url}hook`, mute: [alice.site.url] });
    const quiet = await alice.pm.pm.send({ from: alice.site.url, to: [bob.site.url], content: "Muted, still here" });
    expect((await settled(alice.pm.pm, quiet.message)).deliveries.map((d) => d.status)).toEqual(["delivered"]);
    expect((await bob.pm.pm.inbox()).map((m) => m.content)).toEqual(["Muted, still here"]);
    expect(await bob.pm.store.count("webhooks")).toBe(0);
    // Unmuted: the next one is announced.
    await bob.pm.pm.updateSettings(bob.site.url, { unmute: [alice.site.url] });
    const loud = await alice.pm.pm.send({ from: alice.site.url, to: [bob.site.url], content: "Heard again" });
    await settled(alice.pm.pm, loud.message);
    await waitFor(() => posts.length >= 1, 10_000, "the webhook of the unmuted message");
    expect(posts).toEqual([expect.objectContaining({ message: loud.message })]);
  });
});
