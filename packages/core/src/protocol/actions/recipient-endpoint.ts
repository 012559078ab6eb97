/**
 * PROTOCOL.md §3 step 5 / §4 step 5, the check `request` (actions/request.ts) and `grant`
 * (actions/grant.ts) share on the sender's endpoint E_S' before answering.
 */
import { PmError } from "../../errors.js";
import { describeForPeer } from "../../http/peer-description.js";
import type { Flow } from "../../types.js";
import { describe, discoverStep, type Engine } from "../engine.js";

/**
 * §3 step 5 / §4 step 5 (§6 Identity): R must name exactly `endpoint` now. Discovers R
 * without any cache; a fetch failure is 503 (the delivery stays pending), a mismatch
 * runs `onMismatch` (with the endpoint R names now, if any) and is 409 `endpoint_mismatch`.
 */
export async function checkRecipientEndpoint(
  engine: Engine,
  req: { sender: string; recipient: string; endpoint: string; message?: string },
  flow: Flow,
  onMismatch: (detail: string, named: string | null) => Promise<void>,
): Promise<void> {
  let named: string | null;
  try {
    named = (
      await discoverStep(engine, req.recipient, {
        flow,
        step: 5,
        sender: req.sender,
        recipient: req.recipient,
        ...(req.message ? { message: req.message } : {}),
      })
    ).endpoint;
  } catch (error) {
    // §2: the answer says what kind of failure, never the addresses involved; the detail is logged here.
    engine.log.warn("recipient site could not be fetched at step 5", { recipient: req.recipient, detail: describe(error) });
    throw new PmError("temporarily_unavailable", `The recipient site ${req.recipient} could not be fetched: ${describeForPeer(error)}.`, { cause: error });
  }
  if (named !== req.endpoint) {
    const detail = named
      ? `${req.recipient} names ${named} as its pm endpoint, not ${req.endpoint}.`
      : `${req.recipient} names no pm endpoint, not ${req.endpoint}.`;
    await onMismatch(detail, named);
    throw new PmError("endpoint_mismatch", detail);
  }
}
