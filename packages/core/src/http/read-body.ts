/**
 * Reading a request body under its limit (the numbers: `BODY_LIMITS`, http/body-limits.ts):
 * the federation endpoint (protocol/federation.ts) and the owner API (owner/api.ts).
 */
import { WholeRequest } from "@indiepm/protocol";
import { PmError } from "../errors.js";

const tooLarge = (limit: number): PmError => new PmError("too_large", `The body is over ${Math.floor(limit / 1024)} KiB.`);

/** Reads at most `limit` bytes of a body; more is `413 too_large` (§2). */
export async function readLimited(request: Request, limit: number): Promise<Uint8Array> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > limit) throw tooLarge(limit);
  // A body the node bridge already read under its own limit (node-http.ts): its bytes, without a stream.
  const whole = request instanceof WholeRequest ? request.wholeBody() : undefined;
  if (whole !== undefined) {
    if (whole.byteLength > limit) throw tooLarge(limit);
    return whole;
  }
  if (!request.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}
