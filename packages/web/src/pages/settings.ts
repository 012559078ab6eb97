/**
 * The settings page: who may write, contacts, the block list, the webhook (with a test
 * and its last failure), standing tokens, and the owner's data. Every form posts and is
 * redirected back here (owner-pages.ts); a refused one comes back with its error beside
 * its field and the value typed kept (flash.ts), so a reload re-submits nothing.
 */
import { HOST_BLOCK_PREFIX, type GrantedToken, type MicrosubStatus, type SiteSettings, type WebhookStatus } from "@indiepm/core";
import type { FlashData } from "../flash.js";
import { html, type Html, type Part } from "../html.js";
import { csrfField, layout, siteLabel, timeTag, type Frame } from "../pages.js";
import { mutedSection } from "./live.js";
import { microsubSection } from "./microsub.js";
import { personLabel, personView } from "../people.js";

/**
 * What tightening the policy or blocking a site does to standing tokens already granted
 * (§4, and §7 applied at `deliver` by core's protocol/actions/deliver.ts).
 */
export const TOKENS_WHEN_TIGHTENED =
  "Standing tokens already granted stay (listed under Standing tokens), but while this policy or the block list refuses a site, every message it delivers with one is refused; a site let in by a vouch in Contacts only mode keeps being accepted. Revoke a token to end it for good.";

/** How a block-list entry reads: a site, or every site on a host (`host:NAME`). */
export function blockLabel(entry: string): string {
  return entry.startsWith(HOST_BLOCK_PREFIX) ? `every site on ${entry.slice(HOST_BLOCK_PREFIX.length)}` : siteLabel(entry);
}

/** A block-list entry as the list shows it: a person (people.ts), or the words for a whole host. */
function blockedEntry(frame: Frame, entry: string): Html {
  return entry.startsWith(HOST_BLOCK_PREFIX) ? html`<span class="site">${blockLabel(entry)}</span>` : personLabel(frame, entry);
}

/** How a Remove or Unblock button names its entry for screen readers: the person's name (or site), or the host's words. */
function entryName(frame: Frame, entry: string): string {
  return entry.startsWith(HOST_BLOCK_PREFIX) ? blockLabel(entry) : personView(frame, entry).label;
}

const POLICY_TEXT = {
  anyone: ["Anyone", "Every site may write to you (the block list still applies)."],
  contacts: ["Contacts only", "Sites you wrote to or added, and first contacts vouched for by one of them."],
  nobody: ["Nobody", "No new messages are accepted."],
} as const;

/** What the settings page shows besides the settings: the flash of the form just posted, the webhook's queue. */
export interface SettingsView {
  flash?: FlashData | null;
  webhook?: WebhookStatus;
  /** The site's Microsub channel (pages/microsub.ts), `null` without one. */
  microsub?: MicrosubStatus | null;
}

/** A form's error beside its field: the attributes for the input, and the message after it. */
export interface FieldError {
  /** ` aria-invalid="true" aria-describedby="… ID-error" autofocus`, or nothing. */
  attrs: Html;
  /** The message (with a details line when there is a detail), or nothing. */
  message: Html;
  /** The value the form posted for the field, when this is the form that came back. */
  value: string | undefined;
}

/**
 * The error `flash` holds for `field` of `form`, for the input `id` (described also by
 * `hints`, ids of hints already there). Usable by any page: compose or reply pass their
 * own form name.
 */
export function fieldError(flash: FlashData | null | undefined, form: string, field: string, id: string, hints: string[] = []): FieldError {
  const mine = flash?.form === form;
  const value = mine ? flash?.values?.[field] : undefined;
  const error = mine && flash?.error?.field === field ? flash.error : undefined;
  if (!error) return { attrs: hints.length ? html` aria-describedby="${hints.join(" ")}"` : html``, message: html``, value };
  return {
    attrs: html` aria-invalid="true" aria-describedby="${[`${id}-error`, ...hints].join(" ")}" autofocus`,
    message: html`<div class="field-error"><p id="${id}-error"><span class="visually-hidden">Error: </span>${error.message}</p>${
      error.detail ? html`<details class="tech"><summary>Details</summary><p><code>${error.detail}</code></p></details>` : ""
    }</div>`,
    value,
  };
}

/** An error of a form with no field of its own (a Remove or Revoke button): said at the top of its section. */
function formError(flash: FlashData | null | undefined, forms: string[]): Html {
  const error = flash?.form && forms.includes(flash.form) ? flash.error : undefined;
  if (!error) return html``;
  return html`<div class="field-error" role="alert" tabindex="-1" autofocus><p>${error.message}</p>${
    error.detail ? html`<details class="tech"><summary>Details</summary><p><code>${error.detail}</code></p></details>` : ""
  }</div>`;
}

/** Plain words for why a webhook POST failed, by the engine's error code (and the status its detail names). */
export function webhookReason(code: string, detail = ""): string {
  const status = /answered (\d{3})\b/.exec(detail)?.[1];
  switch (code) {
    case "network_error":
      return "Nothing answered at that address.";
    case "timeout":
      return "Your webhook took too long to answer.";
    case "address_refused":
      return "That address may not be used (a private or local address, or not https).";
    case "rate_limited":
      return "Your webhook said it was busy and asked to be tried later.";
    case "expired":
      return "Your webhook kept failing, so the notification was given up.";
    case "invalid_config":
      return "This server cannot send to webhooks as it is set up.";
    default:
      return `Your webhook answered with an error${status ? ` (${status})` : ""}.`;
  }
}

function webhookTestResult(flash: FlashData | null | undefined): Html {
  const t = flash?.form === "webhook/test" ? flash.extra : undefined;
  if (!t) return html``;
  if (t.ok === true)
    return html`<p class="result ok" role="status" tabindex="-1" autofocus>Test sent: your webhook answered ${String(t.status)} in ${String(t.ms)} ms.</p>`;
  return html`<div class="result failed" role="alert" tabindex="-1" autofocus><p>The test did not get through. ${webhookReason(String(t.error), String(t.detail ?? ""))}</p><details class="tech"><summary>Details</summary><p><code>${String(t.error)}: ${String(t.detail ?? "")}</code></p></details></div>`;
}

function webhookFailure(status: WebhookStatus | undefined): Html {
  const f = status?.lastFailure;
  if (!f) return html``;
  return html`<div class="last-failure" id="webhook-failure"><p><strong>Last failure</strong> ${timeTag(f.at)}: ${webhookReason(f.error, f.detail)} ${
    f.state === "retrying"
      ? html`It is tried again${f.nextAttemptAt ? html` at ${timeTag(f.nextAttemptAt)}` : ""}${status!.pending > 1 ? ` (${status!.pending} notifications waiting)` : ""}.`
      : "That notification was given up."
  }</p><details class="tech"><summary>Details</summary><p><code>${f.error}${f.detail ? `: ${f.detail}` : ""}</code> (${f.attempts} ${f.attempts === 1 ? "try" : "tries"})</p></details></div>`;
}

/**
 * "Write from Micropub apps" (issue 13): the site's DM profile URL (micropub/profile.ts)
 * to copy, and what signing in to an app with it does.
 */
function micropubSection(profile: string): Html {
  return html`<section class="card" aria-labelledby="micropub-h">
  <h2 id="micropub-h">Write from Micropub apps</h2>
  <label for="micropub-profile">Your private-message address for Micropub apps</label>
  <input id="micropub-profile" type="text" readonly value="${profile}" aria-describedby="micropub-how">
  <ul class="hint" id="micropub-how">
    <li>Sign in to Quill, Indigenous or the Micro.blog apps with this address instead of your site's; you sign in with your site as usual.</li>
    <li>What you write there goes only to the people you pick (your contacts are the app's syndication targets, or tag people with their site's address), as a private message. Nothing is published on your site.</li>
    <li>Known to work: Quill's requests and apps built on micropub-helper.</li>
  </ul>
</section>`;
}

export function settingsPage(frame: Frame, s: SiteSettings, tokens: GrantedToken[], view: SettingsView = {}, micropubProfile?: string): Html {
  const b = frame.base;
  const flash = view.flash;
  const configuredContacts = new Set(s.configured.contacts ?? []);
  const configuredBlocked = new Set(s.configured.blocked ?? []);
  const contacts = [...new Set([...s.contacts, ...s.wroteTo])].sort();
  const siteForm = (action: string, field: string, value: string, label: string, cls = "link", what: Part = entryName(frame, value)) =>
    html`<form method="post" action="${b}settings/${action}">${csrfField(frame)}<input type="hidden" name="${field}" value="${value}"><button class="${cls}" type="submit">${label}<span class="visually-hidden"> ${what}</span></button></form>`;
  const policyError = fieldError(flash, "policy", "policy", "policy-choices");
  const contact = fieldError(flash, "contacts/add", "site", "contact");
  const block = fieldError(flash, "blocked/add", "site", "block");
  const webhook = fieldError(flash, "webhook", "webhook", "webhook", ["webhook-hint"]);
  const confirm = fieldError(flash, "delete-all", "confirm", "confirm-delete");
  const hasError = !!flash?.error;
  const webhookValue = webhook.value ?? s.webhook ?? "";
  return layout(
    { ...frame, current: "settings" },
    hasError ? "Error: Settings" : "Settings",
    html`<h1>Settings</h1>
<section class="card" aria-labelledby="policy-h">
  <h2 id="policy-h">Who may write to you</h2>
  <form method="post" action="${b}settings/policy">
    ${csrfField(frame)}
    <fieldset id="policy-choices"${policyError.attrs}><legend class="visually-hidden">Who may write to you</legend>
    ${policyError.message}
    ${(Object.keys(POLICY_TEXT) as (keyof typeof POLICY_TEXT)[]).map(
      (p) =>
        html`<label class="choice"><input type="radio" name="policy" value="${p}"${s.policy === p ? " checked" : ""}> <span><strong>${POLICY_TEXT[p][0]}</strong><span class="hint">${POLICY_TEXT[p][1]}</span></span></label>`,
    )}
    </fieldset>
    <p class="hint" id="tokens-when-tightened">${TOKENS_WHEN_TIGHTENED}</p>
    <button type="submit">Save</button>
  </form>
</section>

<section class="card" aria-labelledby="contacts-h">
  <h2 id="contacts-h">Contacts</h2>
  ${formError(flash, ["contacts/remove"])}
  ${
    contacts.length === 0
      ? html`<p class="empty">No contacts yet. Everyone you write to becomes one.</p>`
      : html`<ul class="sites">${contacts.map(
          (c) =>
            html`<li>${personLabel(frame, c)} <span class="tag">${configuredContacts.has(c) ? "configured" : s.wroteTo.includes(c) && !s.contacts.includes(c) ? "you wrote to them" : "added"}</span>${
              configuredContacts.has(c) ? "" : siteForm("contacts/remove", "site", c, "Remove")
            }</li>`,
        )}</ul>`
  }
  <form class="inline" method="post" action="${b}settings/contacts/add">
    ${csrfField(frame)}
    <label for="contact">Add a contact</label>
    <span class="row"><input id="contact" name="site" type="text" inputmode="url" autocapitalize="off" spellcheck="false" required placeholder="carol.example" value="${contact.value ?? ""}"${contact.attrs}><button type="submit">Add</button></span>
    ${contact.message}
  </form>
</section>

<section class="card" aria-labelledby="blocked-h">
  <h2 id="blocked-h">Blocked sites</h2>
  <p class="hint">A blocked site is refused before anything of it is fetched, whatever else is set here, and so is every message it delivers with a token granted before. An entry can name one site (spam.example/~x) or every site on a host: tick the box below, or write host:spam.example.</p>
  ${formError(flash, ["blocked/remove"])}
  ${
    s.blocked.length === 0
      ? html`<p class="empty">Nobody is blocked.</p>`
      : html`<ul class="sites">${s.blocked.map(
          (c) =>
            html`<li>${blockedEntry(frame, c)}${configuredBlocked.has(c) ? html` <span class="tag">configured</span>` : siteForm("blocked/remove", "site", c, "Unblock")}</li>`,
        )}</ul>`
  }
  <form class="inline" method="post" action="${b}settings/blocked/add">
    ${csrfField(frame)}
    <label for="block">Block a site</label>
    <span class="row"><input id="block" name="site" type="text" inputmode="url" autocapitalize="off" spellcheck="false" required placeholder="spam.example" value="${block.value ?? ""}"${block.attrs}><button class="danger" type="submit">Block</button></span>
    ${block.message}
    <label class="check"><input type="checkbox" name="scope" value="host"${flash?.form === "blocked/add" && flash.values?.scope === "host" ? " checked" : ""}> Every site on its host (spam.example/~x too)</label>
  </form>
</section>

${mutedSection(frame)}

${micropubProfile ? micropubSection(micropubProfile) : ""}

<section class="card" aria-labelledby="notify-h">
  <h2 id="notify-h">Notifications</h2>
  <form method="post" action="${b}settings/webhook">
    ${csrfField(frame)}
    <label for="webhook">Webhook URL <span class="optional">(optional)</span></label>
    <span class="row"><input id="webhook" name="webhook" type="url" value="${webhookValue}" placeholder="https://example.com/hooks/pm"${webhook.attrs}><button type="submit">Save</button></span>
    ${webhook.message}
    <p class="hint" id="webhook-hint">Each new message is announced there with a small JSON POST (sender, subject, the start of the text), retried like a delivery. Leave empty for none.</p>
  </form>
  ${
    s.webhook
      ? html`<form class="webhook-test" method="post" action="${b}settings/webhook/test">${csrfField(frame)}<button type="submit" aria-describedby="webhook-test-hint">Send a test</button><span class="hint" id="webhook-test-hint">Sends a sample notification to ${siteLabel(s.webhook)} now and shows what it answered.</span></form>`
      : ""
  }
  ${webhookTestResult(flash)}
  ${formError(flash, ["webhook/test"])}
  ${s.webhook && view.webhook?.lastFailure?.url === s.webhook ? webhookFailure(view.webhook) : ""}
</section>

${microsubSection(frame, view.microsub, flash)}

<section class="card" aria-labelledby="tokens-h">
  <h2 id="tokens-h">Standing tokens</h2>
  <p class="hint">Sites that may deliver to you without asking first each time, while your policy and block list let them. A revoked token is refused; that site then has to ask again.</p>
  <details class="tech"><summary>Details</summary><p>Standing tokens of PROTOCOL.md §4: a site that holds one skips the handshake; a revoked one is answered 401 invalid_token.</p></details>
  ${formError(flash, ["tokens/revoke"])}
  ${
    tokens.length === 0
      ? html`<p class="empty">No tokens were granted yet.</p>`
      : html`<div class="table-wrap"><table class="tokens">
    <thead><tr><th scope="col">Site</th><th scope="col">Granted</th><th scope="col">Expires</th><th scope="col">Last used</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
    <tbody>${tokens.map(
      (t) =>
        html`<tr${t.revokedAt ? html` class="revoked"` : ""}><th scope="row">${personLabel(frame, t.sender)}</th><td data-label="Granted">${timeTag(t.createdAt)}</td><td data-label="Expires">${timeTag(t.expiresAt)}</td><td data-label="Last used">${t.lastUsedAt ? timeTag(t.lastUsedAt) : "never"}</td><td class="action">${
          t.revokedAt
            ? html`revoked ${timeTag(t.revokedAt)}`
            : siteForm("tokens/revoke", "id", t.id, "Revoke", "danger", `token for ${personView(frame, t.sender).label}`)
        }</td></tr>`,
    )}</tbody></table></div>`
  }
</section>

<section class="card" aria-labelledby="data-h">
  <h2 id="data-h">Your data</h2>
  <p><a class="button" href="${b}export.json" download>Download all messages (JSON)</a></p>
  <details class="danger-zone"${flash?.form === "delete-all" ? " open" : ""}><summary>Delete everything</summary>
    <form method="post" action="${b}settings/delete-all">
      ${csrfField(frame)}
      <p>Every message you received and sent from ${siteLabel(s.site)} is deleted from this server; messages still being delivered stop. Settings and contacts stay.</p>
      <label class="check"><input id="confirm-delete" type="checkbox" name="confirm" value="yes" required${confirm.attrs}> Yes, delete all my messages</label>
      ${confirm.message}
      <button class="danger" type="submit">Delete everything</button>
    </form>
  </details>
</section>`,
  );
}
