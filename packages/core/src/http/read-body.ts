/**
 * Reading a request body under its limit (the numbers: `BODY_LIMITS`, http/body-limits.ts):
 * the federation endpoint (protocol/federation.ts) and the owner API (owner/api.ts).
 */
import { PmError } from "../errors.js";

/** Reads at most `limit` bytes of a body; more is `413 too_large` (§2). */
export async function readLimited(request: Request, limit: number): Promise<Uint8Array> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > limit) throw new PmError("too_large", `The body is over ${Math.floor(limit / 1024)} KiB.`);
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
      throw new PmError("too_large", `The body is over ${Math.floor(limit / 1024)} KiB.`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}
