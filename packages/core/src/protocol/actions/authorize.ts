/**
 * `action=authorize`, answered by the recipient's endpoint E_R: PROTOCOL.md §4 step 2.
 * What it starts — the dialback of steps 3–4 — is the dialback job's.
 */
import type { SitePolicy } from "../../api.js";
import { jsonResponse } from "../../errors.js";
import { hashSecret, keyOf } from "../../secrets.js";
import type { Engine } from "../engine.js";
import type { AuthorizeRequest } from "@indiepm/protocol";
import { startDialback } from "../jobs/dialback.js";
import { admit } from "./admission.js";

/** §4 step 2: `authorize`. As notify (§3 step 2), for the code C. */
export async function answerAuthorize(engine: Engine, policies: Record<string, SitePolicy>, req: AuthorizeRequest): Promise<Response> {
  const admitted = await admit(engine, policies, req);
  const id = keyOf("authorize", req.recipient, req.sender, hashSecret(req.code));
  await startDialback(engine, id, { kind: "authorize", sender: req.sender, recipient: req.recipient, code: req.code, ...admitted });
  return jsonResponse({ status: "accepted" }, 202);
}
