/**
 * `action=notify`, answered by the recipient's endpoint E_R: PROTOCOL.md §3 step 2.
 * What it starts — the dialback of steps 3–4 — is the dialback job's.
 */
import type { SitePolicy } from "../../api.js";
import { jsonResponse } from "../../errors.js";
import { keyOf } from "../../secrets.js";
import type { Engine } from "../engine.js";
import type { NotifyRequest } from "@indiepm/protocol";
import { startDialback } from "../jobs/dialback.js";
import { admit } from "./admission.js";

/**
 * §3 step 2: `notify`. Stores the dialback work before answering 202 (§6 Durability).
 * A message already stored, or a handshake for it under way, starts nothing new.
 */
export async function answerNotify(engine: Engine, policies: Record<string, SitePolicy>, req: NotifyRequest): Promise<Response> {
  const admitted = await admit(engine, policies, req);
  const accepted = jsonResponse({ status: "accepted" }, 202);
  if (await engine.store.get("inbox", keyOf(req.recipient, req.sender, req.message))) return accepted;
  const id = keyOf("notify", req.recipient, req.sender, req.message);
  await startDialback(engine, id, { kind: "notify", sender: req.sender, recipient: req.recipient, message: req.message, ...admitted });
  return accepted;
}
