/**
 * PROTOCOL.md §7 "Who may write" at `deliver` (issue 9, item 8): the policy and the
 * block list hold for standing tokens granted before they changed. In the §2 order —
 * after the token (401) and the site (404) — a sender the policy refuses gets
 * `403 forbidden` and nothing is stored. The token itself is kept: let back in, the
 * sender writes on it again. A first contact admitted by a vouch keeps the vouch on its
 * token, so its own deliveries are not refused while the vouching site is a contact.
 */
import { describe, expect, it, onTestFinished } from "vitest";
import { LoopbackHost, postForm, settled, type FourHosts } from "../harness/hosts.js";
import { startHosts } from "../harness/scoped.js";

/** alice → bob by the token flow; the delivery's outcome and bob's `deliver` answers seen on the wire. */
async function send(h: FourHosts, content: string, extra: { vouch?: string } = {}) {
  const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content, ...extra });
  return (await settled(h.alice.pm.pm, sent.message)).deliveries[0]!;
}

const inbox = async (h: FourHosts) => (await h.bob.pm.pm.inbox()).map((m) => m.content).sort();

describe("§7 at deliver: a standing token does not outlive the policy", () => {
  type Change = Parameters<FourHosts["bob"]["pm"]["pm"]["updateSettings"]>[1];
  const rows: Array<[string, Change, Change, Change]> = [
    // name, bob's settings before the first message, the change after it, the change that lets alice back
    ["policy set to nobody", {}, { policy: "nobody" }, { policy: "anyone" }],
    [
      "contacts mode, alice removed from the contacts",
      { policy: "contacts", addContacts: ["ALICE"] },
      { removeContacts: ["ALICE"] },
      { addContacts: ["ALICE"] },
    ],
    ["alice blocked", {}, { block: ["ALICE"] }, { unblock: ["ALICE"] }],
  ];
  const forAlice = (change: Change, alice: string): Change => JSON.parse(JSON.stringify(change).replaceAll('"ALICE"', JSON.stringify(alice)));

  it.each(rows)(
    "%s: 403 on the standing token, nothing stored; the token is kept and works once alice is let back",
    async (_name, before, change, back) => {
      const h = await startHosts();
      await h.bob.pm.pm.updateSettings(h.bob.site.url, forAlice(before, h.alice.site.url));
      expect((await send(h, "one")).status).toBe("delivered");
      const [token] = await h.bob.pm.pm.tokens();
      expect(token).toBeDefined();

      await h.bob.pm.pm.updateSettings(h.bob.site.url, forAlice(change, h.alice.site.url));
      h.events.length = 0;
      expect(await send(h, "two")).toMatchObject({ status: "failed", error: "forbidden" });
      // Refused at deliver, on the token granted before: no new handshake was asked for.
      expect(h.events.filter((e) => e.action === "deliver").map((e) => e.status)).toEqual([403]);
      expect(h.events.filter((e) => e.action === "authorize")).toEqual([]);
      expect(await inbox(h)).toEqual(["one"]);

      // The token was not revoked: let back in, alice writes on it again.
      await h.bob.pm.pm.updateSettings(h.bob.site.url, forAlice(back, h.alice.site.url));
      h.events.length = 0;
      expect((await send(h, "three")).status).toBe("delivered");
      expect(h.events.filter((e) => e.action === "authorize")).toEqual([]);
      expect(await h.bob.pm.pm.tokens()).toEqual([expect.objectContaining({ id: token!.id })]);
      expect(await inbox(h)).toEqual(["one", "three"]);
    },
    60_000,
  );

  it("§2 order: a bad token is 401 before the policy's 403; the policy's 403 comes before a duplicate's 200", async () => {
    const h = await startHosts();
    expect((await send(h, "one")).status).toBe("delivered");
    const [grant] = await h.alice.pm.store.find<{ _id: string; token: string }>("grants", {});
    const [stored] = await h.bob.pm.pm.inbox();
    await h.bob.pm.pm.updateSettings(h.bob.site.url, { policy: "nobody" });
    const fields = { action: "deliver", sender: h.alice.site.url, recipient: h.bob.site.url, published: "2026-12-06T10:00:00Z", content: "x" };
    const unknown = await postForm(
      h.bob.pm.url,
      { ...fields, message: "urn:uuid:00000000-0000-4000-8000-00000000000a" },
      { authorization: `Bearer ${"x".repeat(43)}` },
    );
    expect(unknown).toMatchObject({ status: 401, body: { error: "invalid_token" } });
    const again = await postForm(h.bob.pm.url, { ...fields, message: stored!.message }, { authorization: `Bearer ${grant!.token}` });
    expect(again).toMatchObject({ status: 403, body: { error: "forbidden" } });
    const fresh = await postForm(
      h.bob.pm.url,
      { ...fields, message: "urn:uuid:00000000-0000-4000-8000-00000000000b" },
      { authorization: `Bearer ${grant!.token}` },
    );
    expect(fresh).toMatchObject({ status: 403, body: { error: "forbidden" } });
    expect(await inbox(h)).toEqual(["one"]);
  }, 60_000);
});

describe("§7 vouch: a first contact it admitted may deliver on its own token", () => {
  /** carol: bob's contact, whose page links to alice. */
  async function carolVouchingFor(h: FourHosts): Promise<LoopbackHost> {
    const carol = new LoopbackHost();
    carol.handler = (_req, res) => {
      res.setHeader("content-type", "text/html; charset=utf-8");
      res.end(`<!doctype html><title>Carol's friends</title><a href="${h.alice.site.url}">Alice</a>`);
    };
    await carol.listen();
    onTestFinished(() => carol.stop());
    return carol;
  }

  it("token flow: the vouched authorize's token delivers this and later messages, until the voucher is no contact", async () => {
    const h = await startHosts();
    const carol = await carolVouchingFor(h);
    await h.bob.pm.pm.updateSettings(h.bob.site.url, { policy: "contacts", addContacts: [carol.url] });
    expect(await send(h, "Hi, Carol sent me", { vouch: `${carol.url}friends` })).toMatchObject({ status: "delivered" });
    // A later message rides on the same standing token, without a vouch of its own.
    h.events.length = 0;
    expect(await send(h, "Hi again")).toMatchObject({ status: "delivered" });
    expect(h.events.filter((e) => e.action === "authorize")).toEqual([]);
    // bob drops carol: her vouch no longer admits alice.
    await h.bob.pm.pm.updateSettings(h.bob.site.url, { removeContacts: [carol.url] });
    expect(await send(h, "Still there?")).toMatchObject({ status: "failed", error: "forbidden" });
    expect(await inbox(h)).toEqual(["Hi again", "Hi, Carol sent me"]);
  }, 60_000);

  it("message flow: the vouched notify's message token delivers its message; policy nobody refuses even a vouched token", async () => {
    const h = await startHosts();
    const carol = await carolVouchingFor(h);
    await h.bob.pm.pm.updateSettings(h.bob.site.url, { policy: "contacts", addContacts: [carol.url] });
    const sent = await h.alice.pm.pm.send({
      from: h.alice.site.url,
      to: [h.bob.site.url],
      content: "By the message flow",
      vouch: `${carol.url}friends`,
      flow: "message",
    });
    expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]).toMatchObject({ status: "delivered" });
    expect(await send(h, "Token flow", { vouch: `${carol.url}friends` })).toMatchObject({ status: "delivered" });
    await h.bob.pm.pm.updateSettings(h.bob.site.url, { policy: "nobody" });
    expect(await send(h, "After nobody")).toMatchObject({ status: "failed", error: "forbidden" });
    expect(await inbox(h)).toEqual(["By the message flow", "Token flow"]);
  }, 60_000);
});
