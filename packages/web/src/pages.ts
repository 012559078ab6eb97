/**
 * The inbox's pages: pure functions from data to `Html`, escaped by default (html.ts).
 * Every page works without JavaScript; `static/app.js` enhances it (live delivery
 * status, the new-message banner, local times).
 */
import { sanitizeHtml, type Conversation, type DeliveryView, type Thread, type ThreadItem } from "@indiepm/core";
import { html, trusted, type Html, type Part } from "./html.js";
import { listViews } from "./pages/by-person.js";
import type { DeliveryProblem } from "@indiepm/core";
import { deliveryChips, rowProblem, undeliveredNav } from "./pages/failures.js";
import type { Person } from "@indiepm/core";
import { peopleDatalist, peopleLabel, personLabel, personView } from "./people.js";
import { correspondentControls, mutedRow, notificationOffer, peopleConfirmation, type PeopleAction } from "./pages/live.js";
import { composeKeyField, fieldError, type FieldError } from "./pages/send.js";

/** What every signed-in page knows. */
export interface Frame {
  /** Path prefix of the inbox, ending in `/` (`/` standalone, `/inbox/` under Express). */
  base: string;
  /** The signed-in site; absent on the sign-in page. */
  site?: string;
  csrf?: string;
  unread?: number;
  latestReceivedAt?: string;
  /** Which main navigation entry is current. */
  current?: "inbox" | "compose" | "settings" | "deliveries";
  notice?: string;
  error?: string;
  /** `<noscript>` refresh while deliveries are pending and JavaScript is off. */
  refreshSeconds?: number;
  /** How often app.js asks whether a message arrived, ms. */
  pollMs?: number;
  /** Deliveries of the site failed or stuck retrying: the navigation's "Not delivered (N)" (pages/failures.ts). */
  undelivered?: number;
  /** Those of each conversation, by its id: the list rows' notes (pages/failures.ts). */
  undeliveredBy?: ReadonlyMap<string, readonly DeliveryProblem[]>;
  /** Those of each chat (a person, pages/by-person.ts), by its id. */
  undeliveredByChat?: ReadonlyMap<string, readonly DeliveryProblem[]>;
  /** The correspondents the page names, by site: names and photos (people.ts `withPeople`). */
  people?: ReadonlyMap<string, Person>;
  /** The one-time key of the page's compose or reply form (compose-keys.ts): the posted one when a refused form is shown again. */
  composeKey?: string;
  /** Where app.js asks for the messages that arrived since the page was made (`status.json?after=`). */
  cursor?: string;
  /** Correspondents muted and the block list (pages/live.ts: header controls, muted rows). */
  muted?: readonly string[];
  blocked?: readonly string[];
  /** The confirmation after a mute or block form, with its Undo (pages/live.ts). */
  confirm?: { action: PeopleAction; site: string; back: string };
  /** The page's path under the inbox, where the forms of its messages return (`back`, return-to.ts); a thread's own when absent. */
  here?: string;
}

export const NOTICES: Record<string, string> = {
  sent: "Sent. Delivery status updates below.",
  "sent-retrying": "Sent. Delivery status updates below. A recipient could not be reached just now; it will be tried again.",
  "already-sent": "This message was already sent; it was not sent again.",
  saved: "Saved.",
  "webhook-saved": "Saved. Send a test to check that your webhook takes it.",
  "microsub-saved": "Saved. Each new message is now posted to your Microsub channel.",
  "microsub-removed": "Removed: nothing more is posted to your Microsub channel.",
  read: "Marked as read.",
  unread: "Marked as unread.",
  deleted: "Deleted.",
  revoked: "Token revoked: that site has to ask again before it can deliver.",
  "deleted-all": "Every message was deleted.",
  "signed-out": "You are signed out.",
  // The Retry now and Cancel forms of a delivery (failures.ts).
  retrying: "Trying again now.",
  "delivery-cancelled": "Cancelled: it will not be sent.",
  "delivery-gone": "That delivery was no longer waiting: it was delivered or cancelled meanwhile.",
  expired: "Your session ended, so that was not sent. Sign in again to go back to where you were.",
};

/** "bob.example.com" for "https://bob.example.com/", the path kept where there is one. */
export function siteLabel(url: string): string {
  try {
    const u = new URL(url);
    const path = u.pathname === "/" ? "" : u.pathname.replace(/\/$/, "");
    return `${u.host}${path}${u.search}`;
  } catch {
    return url;
  }
}

/** Server-side time in UTC; app.js shows it in the reader's own zone. */
export function timeTag(iso: string | undefined): Html {
  if (!iso) return html``;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return html`<time>${iso}</time>`;
  const text = `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 16)} UTC`;
  return html`<time datetime="${d.toISOString()}">${text}</time>`;
}

export function csrfField(frame: Frame): Html {
  return html`<input type="hidden" name="csrf" value="${frame.csrf ?? ""}">`;
}

export function layout(frame: Frame, title: string, main: Part, status = ""): Html {
  const b = frame.base;
  const nav = (key: Frame["current"], href: string, label: Part) =>
    html`<a href="${href}"${frame.current === key ? html` aria-current="page"` : ""}>${label}</a>`;
  const unread = frame.unread ?? 0;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${unread > 0 ? `(${unread}) ` : ""}${title} · indiepm</title>
<link rel="stylesheet" href="${b}static/style.css">
<link rel="icon" href="${b}static/icon.svg" type="image/svg+xml">
<script src="${b}static/app.js" defer></script>
${frame.refreshSeconds ? html`<noscript><meta http-equiv="refresh" content="${frame.refreshSeconds}"></noscript>` : ""}
</head>
<body${frame.site ? html` data-status-url="${b}status.json" data-unread="${unread}" data-latest="${frame.latestReceivedAt ?? ""}" data-poll-ms="${frame.pollMs ?? 10_000}" data-cursor="${frame.cursor ?? ""}"` : ""}>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="${b}"><span class="logo" aria-hidden="true">✉</span> indiepm</a>
  ${
    frame.site
      ? html`<nav aria-label="Main">
    ${nav("inbox", b, html`Inbox${unread > 0 ? html` <span class="badge" id="unread-badge"><span class="visually-hidden">, </span>${unread}<span class="visually-hidden"> unread</span></span>` : ""}`)}
    ${undeliveredNav(frame)}
    ${nav("compose", `${b}compose`, "Write")}
    ${nav("settings", `${b}settings`, "Settings")}
  </nav>
  <div class="account">
    <span class="me" title="${frame.site}">${siteLabel(frame.site)}</span>
    <form method="post" action="${b}signout">${csrfField(frame)}<button class="link" type="submit">Sign out</button></form>
  </div>`
      : ""
  }
</header>
<div id="new-message" class="banner" role="status" aria-live="polite" hidden></div>
${frame.site ? notificationOffer() : ""}
<main id="main" tabindex="-1">
${frame.notice && NOTICES[frame.notice] ? html`<p class="notice" role="status" data-notice="${frame.notice}">${NOTICES[frame.notice]}</p>` : ""}
${frame.error ? html`<p class="error" role="alert">${frame.error}</p>` : ""}
${peopleConfirmation(frame)}
${main}
</main>
${status}
</body>
</html>
`;
}

export function signInPage(frame: Frame, p: { preCsrf: string; me: string; sites: readonly string[]; returnTo?: string }): Html {
  return layout(
    frame,
    "Sign in",
    html`<section class="card narrow signin">
  <h1>Sign in to your inbox</h1>
  <p>Enter your site's address. You will be sent to the sign-in page your site names (IndieAuth), and come back here.</p>
  <form method="post" action="${frame.base}signin">
    <input type="hidden" name="csrf" value="${p.preCsrf}">
    ${p.returnTo ? html`<input type="hidden" name="return" value="${p.returnTo}">` : ""}
    <label for="me">Your site</label>
    <input id="me" name="me" type="text" inputmode="url" autocomplete="url" autocapitalize="off" spellcheck="false" required placeholder="example.com" value="${p.me}">
    <button class="primary" type="submit">Sign in</button>
  </form>
  ${p.sites.length > 0 ? html`<p class="hint">This server holds the inbox of ${p.sites.map((s, i) => html`${i > 0 ? ", " : ""}<strong>${siteLabel(s)}</strong>`)}.</p>` : ""}
</section>`,
  );
}

/** The page between the sign-in form and the authorization endpoint (a form may only post to this origin: CSP form-action). */
export function redirectPage(frame: Frame, url: string): Html {
  const host = siteLabel(url);
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="0;url=${url}">
<title>Signing in · indiepm</title><link rel="icon" href="${frame.base}static/icon.svg" type="image/svg+xml"><link rel="stylesheet" href="${frame.base}static/style.css"></head>
<body><main id="main" class="card narrow"><h1>Signing in…</h1><p>Taking you to your site's sign-in page at <strong>${host}</strong>. <a href="${url}">Continue</a> if nothing happens.</p></main></body></html>`;
}

export function messagePage(frame: Frame, title: string, text: string, back?: { href: string; label: string }): Html {
  return layout(
    frame,
    title,
    html`<section class="card narrow"><h1>${title}</h1><p>${text}</p>${back ? html`<p><a href="${back.href}">${back.label}</a></p>` : ""}</section>`,
  );
}

export function inboxPage(frame: Frame, p: { conversations: Conversation[]; q: string; next?: string }): Html {
  const b = frame.base;
  const list =
    p.conversations.length === 0
      ? html`<p class="empty">${p.q ? html`No conversation matches “${p.q}”.` : html`No messages yet. <a href="${b}compose">Write one</a>.`}</p>`
      : html`<ul class="conversations">${p.conversations.map(
          (c) => html`<li class="conversation${c.unread > 0 ? " unread" : ""}${mutedRow(frame, c.participants) ? " muted" : ""}">
  <a href="${b}c/${c.id}">
    <span class="line1"><span class="who">${peopleLabel(frame, c.participants)}</span>${timeTag(c.lastAt)}</span>
    <span class="line2"><span class="subject">${c.subject ?? "(no subject)"}</span>${c.messages > 1 ? html` <span class="count" title="${c.messages} messages">${c.messages}</span>` : ""}${
      c.unread > 0 ? html` <span class="badge">${c.unread}<span class="visually-hidden"> unread</span></span>` : ""
    }${mutedRow(frame, c.participants) ? html` <span class="tag">muted</span>` : ""}</span>
    <span class="snippet">${c.lastSender === frame.site ? html`<span class="you">You:</span> ` : ""}${c.snippet}</span>
    ${rowProblem(frame, frame.undeliveredBy?.get(c.id))}
  </a>
</li>`,
        )}</ul>`;
  return layout(
    { ...frame, current: "inbox" },
    p.q ? `Search: ${p.q}` : "Inbox",
    html`<div class="inbox-head">
  <h1>${p.q ? "Search" : "Conversations"}</h1>
  <a class="button primary" href="${b}compose">Write</a>
</div>
<form class="search" role="search" method="get" action="${b}">
  <label for="q" class="visually-hidden">Search messages</label>
  <input id="q" name="q" type="search" value="${p.q}" placeholder="Search messages and sites">
  <button type="submit">Search</button>
  ${p.q ? html`<a href="${b}">Clear</a>` : ""}
</form>
${p.q ? "" : listViews(frame, "threads")}
${list}${
  p.next
    ? html`
<p class="more"><a class="button" rel="next" href="${b}?${p.q ? `q=${encodeURIComponent(p.q)}&` : "view=threads&"}before=${encodeURIComponent(p.next)}">Older</a></p>`
    : ""
}`,
  );
}

const STATUS_TEXT: Record<string, string> = { pending: "sending…", delivered: "delivered", failed: "failed" };

export function deliveryList(message: string, deliveries: readonly DeliveryView[]): Html {
  return html`<ul class="deliveries" data-message="${message}" aria-label="Delivery">${deliveries.map(
    (d) =>
      html`<li class="delivery ${d.status}" data-recipient="${d.recipient}"><span class="site">${siteLabel(d.recipient)}</span>: <span class="state">${STATUS_TEXT[d.status] ?? d.status}${
        d.status === "failed" && d.error ? ` (${d.error})` : ""
      }</span>${d.detail && d.status !== "delivered" ? html`<span class="detail">${d.detail}</span>` : ""}</li>`,
  )}</ul>`;
}

/** One message as a thread shows it. `subjectHeading`: its subject, where shown, is a heading (a person's page, pages/by-person.ts: subjects are its sections). */
export function messageItem(frame: Frame, thread: Thread, item: ThreadItem, index: number, previous: ThreadItem | undefined, subjectHeading = false): Html {
  const b = frame.base;
  const mine = item.direction === "sent";
  const recipients = item.direction === "sent" ? (item.to ?? item.deliveries.map((d) => d.recipient)) : (item.to ?? [item.recipient]);
  const shownTo = recipients.map((r) => (r === frame.site ? "you" : personView(frame, r).label));
  const answersEarlier = item.inReplyTo && previous && previous.message !== item.inReplyTo ? thread.items.find((i) => i.message === item.inReplyTo) : undefined;
  const id = `m${index}`;
  const back = html`<input type="hidden" name="back" value="${frame.here ?? `c/${thread.id}`}">`;
  // Received HTML was sanitized by the engine before it was stored (§5); what this site sent is sanitized here, as the owner typed it.
  const markup = item.contentHtml === undefined ? undefined : item.direction === "sent" ? sanitizeHtml(item.contentHtml) : item.contentHtml;
  const body = markup ? html`<div class="body rich">${trusted(markup)}</div>` : html`<div class="body text">${item.content}</div>`;
  return html`<li class="message ${mine ? "sent" : "received"}${item.direction === "received" && !item.read ? " unread" : ""}" id="${id}" data-key="${item.sender} ${item.message}">
<article aria-labelledby="${id}-from">
  <header>
    <span class="from" id="${id}-from">${mine ? "You" : personLabel(frame, item.sender)}</span>
    <span class="to">to ${shownTo.join(", ")}</span>
    ${timeTag(item.direction === "sent" ? item.createdAt : item.receivedAt)}
  </header>
  ${item.name && item.name !== thread.subject ? (subjectHeading ? html`<h2 class="msg-subject">${item.name}</h2>` : html`<p class="msg-subject">${item.name}</p>`) : ""}
  ${answersEarlier ? html`<p class="in-reply">In reply to ${answersEarlier.direction === "sent" ? "your" : `${personView(frame, answersEarlier.sender).label}'s`} message of ${timeTag(answersEarlier.published)}</p>` : ""}
  ${body}
  ${item.direction === "sent" ? deliveryChips(frame, item, frame.here ?? `c/${thread.id}`) : ""}
  <div class="message-actions">
    ${
      item.direction === "received"
        ? html`<form method="post" action="${b}m/read">${csrfField(frame)}<input type="hidden" name="message" value="${item.message}"><input type="hidden" name="sender" value="${item.sender}"><input type="hidden" name="conversation" value="${thread.id}">${back}<input type="hidden" name="read" value="${item.read ? "0" : "1"}"><button class="link" type="submit">Mark ${item.read ? "unread" : "read"}</button></form>`
        : ""
    }
    <details class="danger-zone"><summary>Delete</summary>
      <form method="post" action="${b}m/delete">${csrfField(frame)}<input type="hidden" name="message" value="${item.message}"><input type="hidden" name="sender" value="${item.sender}"><input type="hidden" name="conversation" value="${thread.id}">${back}<button class="danger" type="submit">Delete this message</button></form>
    </details>
  </div>
</article>
</li>`;
}

/** Who a reply from the thread goes to (PROTOCOL.md §5): the participants of the message it answers. */
export function replyTargets(site: string, last: ThreadItem): string[] {
  const people = last.direction === "received" ? [last.sender, ...(last.to ?? [])] : last.deliveries.map((d) => d.recipient);
  return [...new Set(people)].filter((p) => p !== site);
}

/**
 * The latest messages of a conversation as app.js's live list appends them (pages/live.ts):
 * `<ol data-total>` of the items as `threadPage` renders them, numbered after the ones before;
 * `data-more` when older messages are left out (app.js then knows some may be missing).
 */
export function liveFragment(frame: Frame, thread: Thread): Html {
  const offset = Math.max(0, thread.messages - thread.items.length);
  return html`<ol data-total="${thread.messages}"${thread.next ? html` data-more` : ""}>${thread.items.map((item, i) => messageItem(frame, thread, item, offset + i, thread.items[i - 1]))}</ol>`;
}

/**
 * One conversation. `autoRead`: its "Mark read" form carries `data-auto-read`, and
 * app.js posts it when the page opens — the GET itself changes nothing.
 */
export function threadPage(frame: Frame, thread: Thread, draft = "", autoRead = false): Html {
  const b = frame.base;
  const last = thread.items.at(-1);
  const targets = last && frame.site ? replyTargets(frame.site, last) : [];
  // A delivery stuck retrying (pages/failures.ts) waits for its back-off: no refresh every 3 s for it.
  const pending = thread.items.some((i) => i.direction === "sent" && i.deliveries.some((d) => d.status === "pending" && !d.attempts));
  const unread = thread.items.some((i) => i.direction === "received" && !i.read);
  return layout(
    { ...frame, current: "inbox", ...(pending ? { refreshSeconds: 3 } : {}) },
    thread.subject ?? "Conversation",
    html`<nav class="crumbs" aria-label="Breadcrumb"><a href="${b}">← Conversations</a></nav>
<div class="thread-head">
  <h1>${thread.subject ?? "(no subject)"}</h1>
  <p class="participants">With ${peopleLabel(frame, thread.participants)} · <span data-live-total>${thread.messages} message${thread.messages === 1 ? "" : "s"}</span></p>
  ${correspondentControls(frame, thread.participants, `c/${thread.id}`)}
  <div class="thread-actions">
    <form method="post" action="${b}c/${thread.id}/read"${autoRead && unread ? html` data-auto-read` : ""}>${csrfField(frame)}<input type="hidden" name="read" value="${unread ? "1" : "0"}"><button type="submit">Mark ${unread ? "read" : "unread"}</button></form>
    <details class="danger-zone"><summary>Delete conversation</summary>
      <form method="post" action="${b}c/${thread.id}/delete">${csrfField(frame)}<p>Delete all ${thread.messages} messages of this conversation from this server? Others keep their copies.</p><button class="danger" type="submit">Yes, delete it</button></form>
    </details>
  </div>
</div>
<ol class="messages" data-live-status="${b}c/${thread.id}/status.json" data-live="${b}c/${thread.id}/live" data-live-match="${thread.id}" aria-live="polite">
${thread.items.map((item, i) => messageItem(frame, thread, item, i, thread.items[i - 1]))}
</ol>
${
  last && targets.length > 0
    ? html`<form class="reply card" method="post" action="${b}c/${thread.id}/reply">
  ${csrfField(frame)}${composeKeyField(frame.composeKey, `reply ${thread.id}`)}
  <h2 id="reply-heading">Reply</h2>
  <p class="hint" id="reply-to">To ${peopleLabel(frame, targets, { avatar: false })}: the people in this conversation, no one else.</p>
  <label for="reply-text">Your reply</label>
  <textarea id="reply-text" name="content" rows="4" required aria-describedby="reply-to">${draft}</textarea>
  <div class="form-actions"><button class="primary" type="submit">Send reply</button><span class="hint kbd-hint">Ctrl+Enter sends</span></div>
</form>`
    : ""
}`,
  );
}

export interface ComposeValues {
  to: string;
  subject: string;
  content: string;
  html: string;
  vouch: string;
  hide: boolean;
  /** Why the To field was refused (a recipient that is not a site, or takes no private messages), shown next to it. */
  toError?: FieldError;
}

export function composePage(frame: Frame, v: ComposeValues): Html {
  const b = frame.base;
  return layout(
    { ...frame, current: "compose" },
    "Write",
    html`<h1>Write a message</h1>
<form class="compose card" method="post" action="${b}compose">
  ${csrfField(frame)}${composeKeyField(frame.composeKey, "compose")}
  <p class="from">From <strong>${siteLabel(frame.site ?? "")}</strong></p>
  <label for="to">To</label>
  <input id="to" name="to" type="text" inputmode="url" autocapitalize="off" spellcheck="false" required value="${v.to}" placeholder="bob.example.com, carol.example" aria-describedby="to-hint${v.toError ? " to-error" : ""}"${v.toError ? html` aria-invalid="true"` : ""}${frame.people?.size ? html` list="to-people" autocomplete="off"` : ""}>
  ${peopleDatalist(frame, "to-people")}
  <p class="hint" id="to-hint">One site or several, separated by commas or spaces. Several make a group: each sees who else it went to.</p>
  ${fieldError("to-error", v.toError)}
  <label class="check"><input type="checkbox" name="hide" value="1"${v.hide ? " checked" : ""}> Hide the recipients from each other</label>
  <label for="subject">Subject <span class="optional">(optional)</span></label>
  <input id="subject" name="subject" type="text" value="${v.subject}">
  <label for="content">Message</label>
  <textarea id="content" name="content" rows="10" required>${v.content}</textarea>
  <details${v.html ? " open" : ""}><summary>Formatted version (HTML, optional)</summary>
    <label for="html">HTML</label>
    <textarea id="html" name="html" rows="5" aria-describedby="html-hint">${v.html}</textarea>
    <p class="hint" id="html-hint">Sent beside the plain text; each recipient keeps only harmless formatting (links, emphasis, lists).</p>
  </details>
  <details${v.vouch ? " open" : ""}><summary>First contact (vouch, optional)</summary>
    <label for="vouch">Vouch page</label>
    <input id="vouch" name="vouch" type="url" value="${v.vouch}" aria-describedby="vouch-hint">
    <p class="hint" id="vouch-hint">For someone who accepts messages only from their contacts: a page on one of their contacts' sites that links to yours.</p>
  </details>
  <div class="form-actions"><button class="primary" type="submit">Send</button><span class="hint kbd-hint">Ctrl+Enter sends</span></div>
</form>`,
  );
}
