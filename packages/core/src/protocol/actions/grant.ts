/**
 * `action=grant`, answered by the sender's endpoint E_S': PROTOCOL.md §4 step 4 as it
 * arrives, and step 5 — the sender's checks before it answers. The `deliver`s of step 6
 * follow the answer (jobs/delivery.ts).
 */
import { PmError, jsonResponse } from "../../errors.js";
import { keyOf } from "../../secrets.js";
import { mutate, type Engine } from "../engine.js";
import type { GrantRequest } from "@indiepm/protocol";
import type { DeliveryDoc, GrantDoc, SecretDoc } from "../records.js";
import { checkRecipientEndpoint } from "./recipient-endpoint.js";
import { liveCode } from "./verify.js";

/**
 * §4 steps 4–5: `grant`. Checks C, checks `endpoint` against C and against what R names
 * now, then uses C up, keeps T for (S → R at E_R) and answers 202; the waiting
 * deliveries follow.
 */
export async function answerGrant(engine: Engine, req: GrantRequest): Promise<Response> {
  const code = await liveCode(engine, req.sender, req.recipient, req.code);
  const withdraw = async (detail: string) => {
    await engine.store.update<SecretDoc>("secrets", code._id, { set: { revokedAt: engine.now(), awaitUntil: engine.now() } });
    const waiting = await engine.store.find<DeliveryDoc>("deliveries", { where: { handshake: code._id, status: "pending" } });
    for (const d of waiting) {
      await mutate<DeliveryDoc>(engine.store, "deliveries", d._id, (cur) =>
        cur.status === "pending" && cur.handshake === code._id ? { status: "failed", error: "endpoint_mismatch", detail, updatedAt: engine.now() } : null,
      );
    }
  };
  if (req.endpoint !== code.endpoint) {
    const detail = `The grant names ${req.endpoint}, but the code was issued for ${code.endpoint}.`;
    await withdraw(detail);
    throw new PmError("endpoint_mismatch", detail);
  }
  await checkRecipientEndpoint(engine, req, "token", withdraw);
  const now = engine.now();
  if (!(await engine.store.update<SecretDoc>("secrets", code._id, { set: { usedAt: now, awaitUntil: now } }, { usedAt: null, revokedAt: null }))) {
    throw new PmError("invalid_code", "The code is unknown, expired, used, or was issued for other sites.");
  }
  await engine.store.put<GrantDoc>("grants", {
    _id: keyOf(req.sender, req.recipient, req.endpoint),
    sender: req.sender,
    recipient: req.recipient,
    endpoint: req.endpoint,
    token: req.token,
    grantedAt: now,
    expiresAt: now + req.expiresIn * 1000,
  });
  // Every delivery to R waiting for a grant can go now (not only those of this code).
  const waiting = await engine.store.find<DeliveryDoc>("deliveries", {
    where: { sender: req.sender, recipient: req.recipient, status: "pending", stage: "awaiting-grant" },
  });
  for (const d of waiting) {
    await mutate<DeliveryDoc>(engine.store, "deliveries", d._id, (cur) =>
      cur.status === "pending" && cur.stage === "awaiting-grant" ? { stage: "deliver", endpoint: req.endpoint, nextAttemptAt: now, updatedAt: now } : null,
    );
  }
  setImmediate(() => engine.wake());
  return jsonResponse({ status: "accepted" }, 202);
}
