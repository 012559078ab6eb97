/**
 * PROTOCOL.md §2, the error answer: every refusal is `{"error", "error_description"}`
 * with the table's status; what is not a protocol refusal never leaks.
 */
import { describe, expect, it } from "vitest";
import { PmError, errorResponse } from "../src/errors.js";

async function answer(error: unknown) {
  const response = errorResponse(error);
  return { status: response.status, headers: response.headers, body: (await response.json()) as { error: string; error_description: string } };
}

describe("§2 error answers", () => {
  it("a protocol code is answered with its status and description", async () => {
    const { status, body } = await answer(new PmError("unknown_recipient", "No site https://b.example/ here."));
    expect(status).toBe(404);
    expect(body).toEqual({ error: "unknown_recipient", error_description: "No site https://b.example/ here." });
  });

  it("rate_limited carries Retry-After", async () => {
    const { status, headers } = await answer(new PmError("rate_limited", "Too many.", { retryAfter: 12.2 }));
    expect(status).toBe(429);
    expect(headers.get("retry-after")).toBe("13");
  });

  it("a store that cannot be reached is 503 temporarily_unavailable with Retry-After, naming nothing of the store (§6: the peer retries)", async () => {
    const down = new PmError("store_error", "The database at db.internal:5432/indiepm cannot be reached: connection refused.");
    const { status, headers, body } = await answer(down);
    expect(status).toBe(503);
    expect(body.error).toBe("temporarily_unavailable");
    expect(body.error_description).not.toMatch(/db\.internal|5432|refused/);
    expect(Number(headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  });

  it("another local code, or anything else thrown, is 500 server_error with a fixed description", async () => {
    for (const thrown of [new PmError("network_error", "secret detail"), new Error("secret detail"), "secret detail"]) {
      const { status, body } = await answer(thrown);
      expect(status).toBe(500);
      expect(body.error).toBe("server_error");
      expect(body.error_description).not.toContain("secret");
    }
  });
});
