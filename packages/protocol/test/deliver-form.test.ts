/**
 * §5's `deliver` form and §2's limit on it (deliver-form.ts): the excess over 256 KiB is
 * that of the longest form among the recipients, each form encoded as the delivery job
 * POSTs it.
 */
import { describe, expect, it } from "vitest";
import { deliverForm, deliverFormExcess, MAX_BODY_BYTES } from "../src/index.js";

const message = {
  sender: "https://alice.example/",
  message: "https://alice.example/m/1",
  published: "2026-12-07T10:00:00Z",
  content: `${"a".repeat(200 * 1024)} & ü`,
  contentHtml: "<p>".repeat(20 * 1024),
  to: ["https://bob.example/", "https://carol.example/~c?x=1&y=ü"],
};

describe("§2 deliverFormExcess", () => {
  const recipients = ["https://bob.example/", "https://carol.example/~c?x=1&y=ü", `https://dave.example/${"é".repeat(300)}`];
  const longest = Math.max(...recipients.map((r) => deliverForm(message, r).toString().length));

  it("is the longest recipient's form over the limit, to the byte", () => {
    expect(longest).toBeGreaterThan(MAX_BODY_BYTES);
    expect(deliverFormExcess(message, recipients)).toBe(longest - MAX_BODY_BYTES);
  });

  it("is 0 when every form fits, and for no recipient", () => {
    const small = { ...message, content: "hi", contentHtml: "<p>hi</p>" };
    expect(deliverFormExcess(small, recipients)).toBe(0);
    expect(deliverFormExcess(message, [])).toBe(0);
  });
});
