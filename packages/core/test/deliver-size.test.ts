/**
 * PROTOCOL.md §2 caps a request body at 256 KiB and §5's `content` at 64 KiB, but
 * `content-html`, `name` and `to` have no cap of their own: HTML beside 64 KiB of text,
 * percent-encoded (`<` is three bytes), can make a `deliver` that no receiver takes. The
 * owner's send refuses such a message before it is accepted (`too_large`, a sentence for
 * people), measured on the very form the delivery job POSTs (@indiepm/protocol deliver-form.ts);
 * a message whose form fits, to its longest recipient, is accepted.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { deliverForm, MAX_BODY_BYTES } from "@indiepm/protocol";
import type { PmServer } from "../src/api.js";
import { MessageTooLargeError } from "../src/owner/messages.js";
import type { OutboxDoc } from "../src/protocol/records.js";
import { createPmServer } from "../src/server.js";
import { createMemoryStore } from "../src/store/memory.js";
import type { Store } from "../src/store/types.js";

const ALICE = "http://127.0.0.1:9/alice/";
const BOB = "http://127.0.0.1:9/bob/";
const CAROL_LONG = `http://127.0.0.1:9/${"c".repeat(400)}/`;
const quiet = { info() {}, warn() {}, error() {} };
const TEXT = "a".repeat(60 * 1024);

let store: Store;
let pm: PmServer;
beforeEach(() => {
  store = createMemoryStore();
  pm = createPmServer({ endpoint: "http://127.0.0.1:9/", sites: [ALICE], store, dev: true, logger: quiet, ownerToken: "owner-token-0123456789abcdef" });
});
afterEach(() => pm.close(0));

/** The encoded `deliver` of a message with `html` to `recipient`, as the delivery job builds it. */
function formBytes(html: string, recipients: string[], recipient: string): number {
  const outbox = {
    sender: ALICE,
    message: "http://127.0.0.1:9/messages/x",
    published: "2026-12-07T10:00:00Z",
    content: TEXT,
    ...(html ? { contentHtml: html } : {}),
    ...(recipients.length > 1 ? { to: recipients } : {}),
  } as OutboxDoc;
  return deliverForm(outbox, recipient).toString().length;
}

describe("§2: a message is accepted only if its deliver fits in 256 KiB", () => {
  it("refuses HTML that passes the limit once percent-encoded, with a sentence, writing nothing", async () => {
    // 128 KiB of `<>` (a sanitizer takes it): 384 KiB encoded, beside 60 KiB of text.
    const html = "<>".repeat(64 * 1024);
    const error = await pm.send({ from: ALICE, to: [BOB], content: TEXT, html, id: "http://127.0.0.1:9/messages/x", published: "2026-12-07T10:00:00Z" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MessageTooLargeError);
    expect((error as MessageTooLargeError).code).toBe("too_large");
    expect((error as Error).message).toMatch(/^The message is too long to deliver: .* 256 KiB a receiver takes\./);
    expect(await store.count("outbox")).toBe(0);
    expect(await store.count("deliveries")).toBe(0);
  });

  it("accepts a message whose deliver is exactly 256 KiB, and refuses one byte more", async () => {
    const base = formBytes("", [BOB], BOB);
    // Each "x" in the HTML is one byte of form; `content-html=` itself adds its name and `&`.
    const fill = MAX_BODY_BYTES - base - "&content-html=".length;
    expect(formBytes("x".repeat(fill), [BOB], BOB)).toBe(MAX_BODY_BYTES);
    const at = { from: ALICE, to: [BOB], content: TEXT, published: "2026-12-07T10:00:00Z" };
    await expect(pm.send({ ...at, html: "x".repeat(fill + 1), id: "http://127.0.0.1:9/messages/x" })).rejects.toBeInstanceOf(MessageTooLargeError);
    const sent = await pm.send({ ...at, html: "x".repeat(fill), id: "http://127.0.0.1:9/messages/x" });
    expect(sent.message).toBe("http://127.0.0.1:9/messages/x");
    expect(await store.count("deliveries")).toBe(1);
  });

  it("measures the form to the longest recipient, with the shown `to` list", async () => {
    const recipients = [BOB, CAROL_LONG];
    const base = formBytes("", recipients, CAROL_LONG);
    expect(base).toBeGreaterThan(formBytes("", recipients, BOB));
    const fill = MAX_BODY_BYTES - base - "&content-html=".length;
    const at = { from: ALICE, to: recipients, content: TEXT, published: "2026-12-07T10:00:00Z", id: "http://127.0.0.1:9/messages/x" };
    // Fits to bob, not to carol: refused.
    await expect(pm.send({ ...at, html: "x".repeat(fill + 1) })).rejects.toBeInstanceOf(MessageTooLargeError);
    await expect(pm.send({ ...at, html: "x".repeat(fill) })).resolves.toMatchObject({ message: at.id });
  });
});
