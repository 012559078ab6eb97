/**
 * What `notify` and `authorize` (actions/notify.ts, actions/authorize.ts) check before
 * anything else, on the recipient's endpoint E_R: PROTOCOL.md §2 "the site named" (404)
 * then §7 policy (403).
 */
import type { SitePolicy } from "../../api.js";
import { PmError } from "../../errors.js";
import type { Engine } from "../engine.js";
import { verdictFor } from "@indiepm/protocol";
import { siteSettings } from "../../settings.js";
import { checkVouch } from "../vouch.js";

/**
 * §2 "the site named" (404) then §7 policy (403), for notify and authorize: the block
 * list first and before any fetch; a sender the policy refuses may still be admitted by
 * its `vouch` page in `contacts` mode (the only fetch made before answering). Resolves
 * `{ vouch }` when the vouch admitted it: the handshake and its token keep it (see `mayDeliver`).
 */
export async function admit(
  engine: Engine,
  policies: Record<string, SitePolicy>,
  req: { sender: string; recipient: string; vouch?: string },
): Promise<{ vouch?: string }> {
  if (!engine.sites.has(req.recipient)) throw new PmError("unknown_recipient", `This server holds no inbox for ${req.recipient}.`);
  const settings = await siteSettings(engine.store, policies, req.recipient);
  const verdict = verdictFor(settings, req.sender);
  if (verdict === "allowed") return {};
  if (verdict === "refused" && settings.policy === "contacts" && req.vouch) {
    await checkVouch(engine.http, req.vouch, req.sender, [...settings.contacts, ...settings.wroteTo], engine.log);
    return { vouch: req.vouch };
  }
  throw new PmError("forbidden", `${req.recipient} does not accept messages from ${req.sender}.`);
}
