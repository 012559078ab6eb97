/**
 * Who a message may be written to, checked before it is accepted (issue 12): each
 * recipient is a site address (PROTOCOL.md "URLs": a URL, or a bare host as a person
 * types it), and its page names a pm endpoint (§1). A site that names none, or whose
 * page answers a 4xx other than 408/429 (§6 Retries: final), does not take private
 * messages, and the message is refused with a sentence naming it; one that cannot be
 * reached right now (no answer, a time-out, a 5xx) is accepted and retried as §6 says,
 * its delivery saying so from the start. The discovery is §3/§4 step 1 made early,
 * through the engine's guarded client and its §1 cache: the delivery then reuses the
 * endpoint found where the page's `Cache-Control` allows.
 */
import { PmError, type ErrorCode } from "../errors.js";
import { MAX_RECIPIENTS } from "../limits.js";
import type { discoverAttempt } from "../protocol/attempt.js";
import type { Engine } from "../protocol/engine.js";
import type { Flow } from "../types.js";
import { hostOf, isIpHost, isLocalhostName, parseSiteUrl, type UrlPolicy } from "../urls.js";

/** Discoveries made at once by one check (a group message to many sites). */
export const RECIPIENT_CHECKS_AT_ONCE = 8;

/** A recipient the check refused: a sentence for people, and the technical reason beside it. */
export interface RecipientRefusal {
  site: string;
  /** Plain words: "bob.example.com does not take private messages." */
  text: string;
  /** What was found, for the curious (codes, statuses, addresses). */
  detail: string;
  code: ErrorCode;
}

/** A recipient that could not be reached now: accepted, and retried (§6). */
export interface RecipientUnreachable {
  site: string;
  detail: string;
  code: ErrorCode;
}

export interface RecipientCheck {
  refused: RecipientRefusal[];
  unreachable: RecipientUnreachable[];
}

/** `PmServer.send` refused recipients: `refusals` says which and why, the message joins their sentences. */
export class RecipientsRefusedError extends PmError {
  override name = "RecipientsRefusedError";
  constructor(readonly refusals: readonly RecipientRefusal[]) {
    super("invalid_request", refusals.map((r) => `${r.text.replace(/\.$/, "")} (${r.detail.replace(/\.$/, "")}).`).join(" "));
  }
}

/**
 * A message naming more than `MAX_RECIPIENTS` sites (each counted once): refused before
 * anything is looked up or written, whether or not the recipients are checked.
 */
export class TooManyRecipientsError extends PmError {
  override name = "TooManyRecipientsError";
  /** The most a message may have: `MAX_RECIPIENTS`. */
  readonly limit = MAX_RECIPIENTS;
  /** @param given how many sites the message named, each once. */
  constructor(readonly given: number) {
    super("invalid_request", `A message goes to at most ${MAX_RECIPIENTS} people; this one names ${given}.`);
  }
}

/**
 * The one recipient cap (limits.ts `MAX_RECIPIENTS`): `recipients` are canonical site
 * URLs, duplicates already removed.
 * @throws TooManyRecipientsError past it.
 */
export function capRecipients(recipients: readonly string[]): void {
  if (recipients.length > MAX_RECIPIENTS) throw new TooManyRecipientsError(recipients.length);
}

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * Why `site` (a canonical site URL) is not a site address, or `undefined`: its host must
 * be a domain name of two labels or more (`bob.example.com`, not `bob`), or, where the
 * policy allows them, an IP address or localhost.
 */
export function siteAddressRefusal(site: string): string | undefined {
  const host = new URL(site).hostname;
  if (isIpHost(host) || isLocalhostName(host)) return undefined;
  const labels = host.replace(/\.$/, "").split(".");
  if (labels.length < 2) return "a site address is a domain name such as bob.example.com";
  if (!labels.every((l) => LABEL.test(l))) return "its host is not a domain name";
  return undefined;
}

/** The text of an entry as a sentence quotes it: at most 80 characters. */
const quoted = (entry: string) => `“${entry.length > 80 ? `${entry.slice(0, 79)}…` : entry}”`;

/**
 * One recipient as a person types it: a URL (`https://bob.example.com/`), or a bare host
 * with an optional port and path (`bob.example.com`, which means `https://bob.example.com/`;
 * in development mode a bare IP address or localhost means `http://`). Returns the
 * canonical site URL.
 * @throws PmError `invalid_request`, naming the entry.
 */
export function parseRecipient(entry: string, policy: UrlPolicy): string {
  const text = entry.trim();
  const local = policy.dev && /^(?:localhost(?:[:/]|$)|\[|\d+\.\d+\.\d+\.\d+(?:[:/]|$))/i.test(text);
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `${local ? "http" : "https"}://${text}`;
  let site: string;
  try {
    site = parseSiteUrl(url, "to", policy);
  } catch (error) {
    if (!(error instanceof PmError)) throw error;
    const why = error.message.replace(/^to (is refused: )?/, "").replace(/\.$/, "");
    throw new PmError("invalid_request", `${quoted(text)} is not a site address (${why}).`);
  }
  const refusal = siteAddressRefusal(site);
  if (refusal) throw new PmError("invalid_request", `${quoted(text)} is not a site address: ${refusal}.`);
  return site;
}

/**
 * The recipients of a To field: entries separated by commas, semicolons, spaces or new
 * lines, each `parseRecipient`; duplicates once.
 * @throws PmError `invalid_request`: nothing named, or the first entry that is not a site address.
 */
export function parseRecipientList(text: string, policy: UrlPolicy): string[] {
  const entries = text.split(/[\s,;]+/).filter(Boolean);
  if (entries.length === 0) throw new PmError("invalid_request", "Name at least one site to write to.");
  return [...new Set(entries.map((e) => parseRecipient(e, policy)))];
}

/** Plain words for a final discovery failure of `site`. */
function refusalText(site: string, code: ErrorCode, detail: string): RecipientRefusal {
  const who = hostOf(site);
  if (code === "address_refused") return { site, code, detail, text: `${who} cannot be written to from this server: its address is not allowed here.` };
  if (code === "discovery_failed" && /answered (?:404|410)\b/.test(detail)) {
    return { site, code, detail, text: `${who} does not take private messages: there is no page at that address.` };
  }
  return { site, code, detail, text: `${who} does not take private messages.` };
}

/**
 * Discovers each recipient (`RECIPIENT_CHECKS_AT_ONCE` at a time) and sorts out those that
 * do not take private messages (final, §6) from those that cannot be reached now (retried).
 * `discover` is attempt.ts `discoverAttempt`, handed in by server.ts (owner/ reaches the
 * engine through server.ts, test/layout.test.ts).
 */
export async function checkRecipients(engine: Engine, discover: typeof discoverAttempt, recipients: readonly string[], flow: Flow): Promise<RecipientCheck> {
  const check: RecipientCheck = { refused: [], unreachable: [] };
  const outcomes = new Array<Awaited<ReturnType<typeof discoverAttempt>>>(recipients.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < recipients.length; i = next++) {
      const site = recipients[i]!;
      outcomes[i] = await discover(engine, site, { flow, step: 1, recipient: site }, undefined, { cached: true });
    }
  };
  await Promise.all(Array.from({ length: Math.min(RECIPIENT_CHECKS_AT_ONCE, recipients.length) }, worker));
  recipients.forEach((site, i) => {
    const outcome = outcomes[i]!;
    if (outcome.kind === "ok") return;
    if (outcome.kind === "retry") check.unreachable.push({ site, code: outcome.code, detail: outcome.detail });
    else check.refused.push(refusalText(site, outcome.kind === "final" ? outcome.code : "invalid_token", outcome.detail));
  });
  return check;
}
