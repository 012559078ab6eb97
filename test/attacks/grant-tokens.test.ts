/**
 * §4 step 4 under §6 Abuse: each try of a dialback's `grant` issues a new standing token
 * (30 days by default). A sender endpoint that answers every `grant` with 503 must not
 * leave one live token per try in the receiver's store: a token whose grant was answered
 * anything but 202 is withdrawn; only one whose grant got no answer at all may have been
 * kept by the sender, so it stays.
 */
import { expect, it, onTestFinished } from "vitest";
import { fourHosts, postForm, waitFor } from "../harness/hosts.js";
import { ScriptedEndpoint, yes } from "../harness/rogue.js";

const RETRY = { baseDelayMs: 50, maxDelayMs: 100, handshakeTimeoutMs: 3_000, giveUpAfterMs: 60 * 60_000 };

it("503-to-grant: after 4 refused grants bob's pm holds no live standing token for them", async () => {
  const h = await fourHosts({ bob: { retry: RETRY } });
  onTestFinished(() => h.close());
  const peer = await new ScriptedEndpoint().listen();
  onTestFinished(() => peer.stop());
  h.alice.site.endpoint = peer.url;
  peer.answer = (r) => (r.action === "grant" ? { status: 503, body: { error: "temporarily_unavailable", error_description: "Later." } } : yes(r));
  const sites = { sender: h.alice.site.url, recipient: h.bob.site.url };
  expect((await postForm(h.bob.pm.url, { action: "authorize", ...sites, code: "c".repeat(43) })).status).toBe(202);
  await waitFor(() => peer.of("grant").length >= 4, 10_000, "four grant tries");
  await h.bob.pm.idle();
  const tokens = await h.bob.pm.store.find<{ _id: string; kind: string; revokedAt?: number }>("secrets", { where: { kind: "standing-token" } });
  expect(tokens.length).toBeGreaterThanOrEqual(4);
  // Every token a 503 answered is withdrawn; at most the try in flight holds a live one.
  expect(tokens.filter((t) => t.revokedAt === undefined).length).toBeLessThanOrEqual(1);
});
