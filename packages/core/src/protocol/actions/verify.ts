/**
 * `action=verify`, answered by the sender's endpoint E_S' (the one S names, found by the
 * receiver's dialback): PROTOCOL.md §3 step 3 and §4 step 3.
 */
import { PmError, jsonResponse } from "../../errors.js";
import { hashSecret, keyOf } from "../../secrets.js";
import type { Engine } from "../engine.js";
import { codeIsLive, type VerifyRequest } from "@indiepm/protocol";
import type { OutboxDoc, SecretDoc } from "../records.js";

/**
 * §3 step 3 / §4 step 3: `verify`. Yes for a message M from S with R among its
 * recipients, or for a live code this server issued for exactly (S, R). Verify does not
 * use a code up.
 */
export async function answerVerify(engine: Engine, req: VerifyRequest): Promise<Response> {
  if (req.message !== undefined) {
    const outbox = engine.sites.has(req.sender) ? await engine.store.get<OutboxDoc>("outbox", keyOf(req.sender, req.message)) : null;
    if (!outbox?.recipients.includes(req.recipient)) {
      throw new PmError("unknown_message", `This endpoint holds no message ${req.message} from ${req.sender} to ${req.recipient}.`);
    }
    return jsonResponse({ valid: true }, 200);
  }
  await liveCode(engine, req.sender, req.recipient, req.code);
  return jsonResponse({ valid: true }, 200);
}

/** The code doc when `code` is live and was issued for exactly (S, R); else `invalid_code`. */
export async function liveCode(engine: Engine, sender: string, recipient: string, code: string): Promise<SecretDoc> {
  const doc = engine.sites.has(sender) ? await engine.store.get<SecretDoc>("secrets", hashSecret(code)) : null;
  if (!codeIsLive(doc, sender, recipient, engine.now())) {
    throw new PmError("invalid_code", "The code is unknown, expired, used, or was issued for other sites.");
  }
  return doc;
}
