/**
 * Issue 12 "Live" and "Block or mute a correspondent from the conversation": the header
 * controls of a thread (or a person's page), the confirmation with its Undo after each,
 * the Muted list of Settings, and the offer of browser notifications (app.js shows it).
 * A muted correspondent's messages arrive and are listed, but raise no unread count,
 * banner or notification; a blocked one's are refused (PROTOCOL.md §7).
 */
import { blockedBy, type ChatThread, type Thread, type ThreadItem } from "@indiepm/core";
import { html, type Html } from "../html.js";
import { messageItem, siteLabel, type Frame } from "../pages.js";
import { personLabel, personView } from "../people.js";
import { backPath } from "../return-to.js";

/** What a confirmation names: the action just done on a correspondent. */
export type PeopleAction = "muted" | "unmuted" | "blocked" | "unblocked";
export const PEOPLE_ACTIONS: readonly PeopleAction[] = ["muted", "unmuted", "blocked", "unblocked"];

/** A path under the inbox a form may return to (`c/ID`, a person page, `settings`): nothing that leaves it (return-to.ts `backPath`); else the inbox. */
export function safeBack(value: string | null | undefined): string {
  return backPath(value, "");
}

/** The confirmation a page shows after `?notice=ACTION&who=SITE` (set by the mute and block forms' redirect). */
export function peopleConfirmationOf(query: URLSearchParams): { action: PeopleAction; site: string } | undefined {
  const action = query.get("notice") as PeopleAction | null;
  const site = query.get("who");
  return action && PEOPLE_ACTIONS.includes(action) && site && URL.canParse(site) ? { action, site } : undefined;
}

function csrf(frame: Frame): Html {
  return html`<input type="hidden" name="csrf" value="${frame.csrf ?? ""}">`;
}

/** A one-button form posting to `people/mute` or `people/block`. */
function personForm(frame: Frame, what: "mute" | "block", on: boolean, site: string, back: string, label: Html, cls = ""): Html {
  return html`<form class="inline-form" method="post" action="${frame.base}people/${what}">${csrf(frame)}<input type="hidden" name="site" value="${site}"><input type="hidden" name="on" value="${on ? "1" : "0"}"><input type="hidden" name="back" value="${back}"><button type="submit"${cls ? html` class="${cls}"` : ""}>${label}</button></form>`;
}

export function isMuted(frame: Frame, site: string): boolean {
  return (frame.muted ?? []).includes(site);
}

/** A list row is muted when every other participant is. */
export function mutedRow(frame: Frame, participants: readonly string[]): boolean {
  return participants.length > 0 && participants.every((p) => isMuted(frame, p));
}

/**
 * The header controls for the correspondents of a thread or person page: a line saying who
 * is muted or blocked, Mute/Unmute, and Block (behind a confirmation) or Unblock, each
 * naming its site for screen readers (visibly too when there are several).
 */
export function correspondentControls(frame: Frame, sites: readonly string[], back: string): Html {
  const others = sites.filter((s) => s !== frame.site);
  if (others.length === 0) return html``;
  const several = others.length > 1;
  const name = (site: string) => (several ? html` ${siteLabel(site)}` : html`<span class="visually-hidden"> ${siteLabel(site)}</span>`);
  return html`<div class="correspondents">${others.map((site) => {
    const blocked = blockedBy(frame.blocked, site);
    const exact = (frame.blocked ?? []).includes(site);
    const muted = isMuted(frame, site);
    return html`<div class="correspondent">
  ${blocked ? html`<p class="state-note blocked">Blocked: new messages from ${siteLabel(site)} are refused.</p>` : muted ? html`<p class="state-note muted">Muted: messages from ${siteLabel(site)} arrive without a notification or unread count.</p>` : ""}
  <div class="correspondent-actions">
  ${muted ? personForm(frame, "mute", false, site, back, html`Unmute${name(site)}`) : personForm(frame, "mute", true, site, back, html`Mute${name(site)}`)}
  ${
    blocked
      ? exact
        ? personForm(frame, "block", false, site, back, html`Unblock${name(site)}`)
        : html`<a href="${frame.base}settings#blocked-h">Blocked by a host entry in Settings</a>`
      : html`<details class="danger-zone"><summary>Block${name(site)}</summary>
    <div class="confirm"><p>Refuse every new message from ${siteLabel(site)}? They are not told; what they sent stays here. You can unblock them here or in Settings.</p>
    ${personForm(frame, "block", true, site, back, html`Block ${siteLabel(site)}`, "danger")}</div>
  </details>`
  }
  </div>
</div>`;
  })}</div>`;
}

const CONFIRM_TEXT: Record<PeopleAction, (who: string) => string> = {
  muted: (who) => `Muted ${who}. Their messages still arrive and are listed here, without a notification or unread count.`,
  unmuted: (who) => `Unmuted ${who}. Their new messages count as unread again.`,
  blocked: (who) => `Blocked ${who}. Their new messages are refused; they are not told.`,
  unblocked: (who) => `Unblocked ${who}. They can write to you again.`,
};

const UNDO: Record<PeopleAction, ["mute" | "block", boolean]> = {
  muted: ["mute", false],
  unmuted: ["mute", true],
  blocked: ["block", false],
  unblocked: ["block", true],
};

/** The confirmation after a mute or block form, with an Undo (a form: it changes the settings back). */
export function peopleConfirmation(frame: Frame): Html {
  const c = frame.confirm;
  if (!c) return html``;
  const [what, on] = UNDO[c.action];
  return html`<div class="notice people-notice" role="status"><p>${CONFIRM_TEXT[c.action](siteLabel(c.site))}</p>${personForm(frame, what, on, c.site, c.back, html`Undo`, "link")}</div>`;
}

/** The Muted section of Settings: each muted site with Unmute. */
export function mutedSection(frame: Frame): Html {
  const muted = frame.muted ?? [];
  return html`<section class="card" aria-labelledby="muted-h">
  <h2 id="muted-h">Muted</h2>
  <p class="hint">Messages from a muted site still arrive and are listed, marked muted, but raise no notification and no unread count. Mute someone from their conversation.</p>
  ${
    muted.length === 0
      ? html`<p class="empty">Nobody is muted.</p>`
      : html`<ul class="sites">${muted.map(
          (site) =>
            html`<li>${personLabel(frame, site)}${personForm(frame, "mute", false, site, "settings", html`Unmute<span class="visually-hidden"> ${personView(frame, site).label}</span>`, "link")}</li>`,
        )}</ul>`
  }
</section>`;
}

/**
 * The latest messages with a person as app.js's live list appends them to the person page:
 * each as that page renders it (its thread's, a subject where it changes), in `<ol data-total>`
 * (no total: the page names none). Ids numbered apart from the page's own (`m0`…).
 */
export function liveChatFragment(frame: Frame, chat: ChatThread): Html {
  const offset = 1_000_000 + (Date.now() % 1_000_000) * 100;
  const here = { ...frame, here: `p/${chat.id}` }; // their forms return to the person page, as its own messages' do
  return html`<ol data-total="0"${chat.next ? html` data-more` : ""}>${chat.items.map((item, i) => {
    const previous = chat.items[i - 1];
    const thread = { id: item.conversation, subject: previous?.name, items: chat.items } as unknown as Thread;
    return messageItem(here, thread, item as ThreadItem, offset + i, previous);
  })}</ol>`;
}

/** The offer of browser notifications: hidden until app.js finds the browser can show them and the owner has not answered yet. */
export function notificationOffer(): Html {
  return html`<aside id="notify-offer" class="notify-offer" aria-label="Browser notifications" hidden>
  <p id="notify-text">Get a notification when a message arrives while this tab is in the background.</p>
  <div class="notify-buttons"><button type="button" id="notify-on" aria-describedby="notify-text">Notify me of new messages</button><button type="button" class="link" id="notify-later">Not now</button></div>
  <label class="check" id="notify-hide-label" hidden><input type="checkbox" id="notify-hide"> Hide message text in notifications</label>
</aside>`;
}
