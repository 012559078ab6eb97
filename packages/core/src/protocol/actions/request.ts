/**
 * `action=request`, answered by the sender's endpoint E_S': PROTOCOL.md §3 step 4 as it
 * arrives, and step 5 — the sender's checks before it answers. The `deliver` of step 6
 * follows the answer (jobs/delivery.ts).
 */
import { PmError, jsonResponse } from "../../errors.js";
import { keyOf } from "../../secrets.js";
import { MESSAGE_TOKEN_LIFETIME_MS } from "../../limits.js";
import { mutate, type Engine } from "../engine.js";
import type { RequestRequest } from "@indiepm/protocol";
import type { DeliveryDoc } from "../records.js";
import { checkRecipientEndpoint } from "./recipient-endpoint.js";

/**
 * §3 steps 4–5: `request`. Looks M up, discovers R afresh and checks it names exactly
 * `endpoint`, keeps T, answers 202; the `deliver` (step 6) follows the answer.
 *
 * M is no secret (every recipient of a group message learns it), so a `request` alone
 * cannot end a delivery or take it over: a 409 ends it only when R now names an endpoint
 * other than the one step 2 notified (the recipient moved), and the first token a valid
 * `request` brought is kept while it lives — a later one changes nothing (a 401 to it
 * starts one new handshake instead, `deliver`).
 */
export async function answerRequest(engine: Engine, req: RequestRequest): Promise<Response> {
  const id = keyOf(req.sender, req.recipient, req.message);
  const pending = engine.sites.has(req.sender) ? await engine.store.get<DeliveryDoc>("deliveries", id) : null;
  if (pending?.status !== "pending") {
    throw new PmError("unknown_message", `This endpoint holds no pending message ${req.message} from ${req.sender} to ${req.recipient}.`);
  }
  await checkRecipientEndpoint(engine, req, pending.flow, async (detail, named) => {
    const notified = pending.endpoint;
    if (!named || !notified || named === notified) return;
    await mutate<DeliveryDoc>(engine.store, "deliveries", id, (d) =>
      d.status === "pending" && d.endpoint === notified
        ? {
            status: "failed",
            error: "endpoint_mismatch",
            detail: `${detail} It named ${notified} when notified: the recipient moved.`,
            token: undefined,
            tokenExpiresAt: undefined,
            updatedAt: engine.now(),
          }
        : null,
    );
  });
  const now = engine.now();
  let kept = false;
  const ready = await mutate<DeliveryDoc>(engine.store, "deliveries", id, (d) => {
    if (d.status !== "pending") return null;
    kept = d.token !== undefined && (d.tokenExpiresAt ?? 0) > now;
    return kept
      ? null
      : { stage: "deliver", endpoint: req.endpoint, token: req.token, tokenExpiresAt: now + MESSAGE_TOKEN_LIFETIME_MS, nextAttemptAt: now, updatedAt: now };
  });
  if (!ready && !kept) throw new PmError("unknown_message", `The message ${req.message} is no longer pending.`);
  if (ready) setImmediate(() => engine.wake());
  return jsonResponse({ status: "accepted" }, 202);
}
