/**
 * Conversations by person (issue 12): the inbox's default list, one row per correspondent
 * (or set of them for a group message) as messaging apps show it, and the person page —
 * every message with them in time order, newest last, with the reply box. Threads by
 * `in-reply-to` stay a click away (`?view=threads`, `/c/:id`, the search).
 *
 * Times are relative ("2 min", "Tue", "3 Mar"): the server writes them in UTC, with the
 * full time in `datetime` and a title; app.js rewrites them in the reader's zone and keeps
 * them fresh (the same rule, `relativeTime`).
 */
import type { Chat, ChatThread, Thread, ThreadItem } from "@indiepm/core";
import { html, type Html } from "../html.js";
import { layout, messageItem, replyTargets, type Frame } from "../pages.js";
import { peopleLabel, personView } from "../people.js";
import { rowProblem } from "./failures.js";
import { correspondentControls, mutedRow } from "./live.js";
import { composeKeyField } from "./send.js";

/** How much of a message a row shows. */
const ROW_CHARS = 140;
const MINUTE = 60_000;
const DAY = 86_400_000;

/**
 * Pure: a time as messaging apps write it, seen at `now`: "now" (under a minute), "2 min"
 * (under an hour), "14:05" (today), "Tue" (the six days before), "3 Mar" (this year),
 * "3 Mar 2025". Calendar days in `timeZone` (the server: UTC; app.js: the reader's).
 */
export function relativeTime(iso: string, now: number, timeZone = "UTC"): string {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const ago = now - at;
  if (ago < MINUTE && ago > -MINUTE) return "now";
  if (ago > 0 && ago < 60 * MINUTE) return `${Math.floor(ago / MINUTE)} min`;
  const format = new Intl.DateTimeFormat("en-GB", {
    timeZone,
    year: "numeric",
    month: "short",
    day: "numeric",
    weekday: "short",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  });
  const parts = (ms: number) => {
    const p: Record<string, string> = Object.fromEntries(format.formatToParts(ms).map((x) => [x.type, x.value]));
    const [year = "", month = "", day = "", weekday = "", hour = "", minute = ""] = [p.year, p.month, p.day, p.weekday, p.hour, p.minute];
    return { year, month, day, weekday, hour, minute, date: Date.UTC(Number(year), monthIndex(month), Number(day)) };
  };
  const then = parts(at);
  const today = parts(now);
  const days = Math.round((today.date - then.date) / DAY);
  if (days === 0) return `${then.hour}:${then.minute}`;
  if (days > 0 && days < 7) return then.weekday;
  if (then.year === today.year) return `${then.day} ${then.month}`;
  return `${then.day} ${then.month} ${then.year}`;
}

function monthIndex(short: string): number {
  return ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].indexOf(short.slice(0, 3));
}

/** A relative time (`relativeTime`), the full time in `datetime` and the title; app.js keeps it fresh (`time.rel`). */
export function relativeTimeTag(iso: string, now: number): Html {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return html`<time>${iso}</time>`;
  const full = `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 16)} UTC`;
  return html`<time class="rel" datetime="${d.toISOString()}" title="${full}">${relativeTime(iso, now)}</time>`;
}

/** The people of a chat, as every row and header names them (one helper: people.ts names people where it is in place). */
export function chatPeople(frame: Frame, people: readonly string[]): Html {
  return peopleLabel(frame, people);
}

/** Pure: the start of a message's text for a row, on one line, about `ROW_CHARS` characters, cut between words where it can. */
export function rowText(content: string): string {
  const text = content.replace(/\s+/g, " ").trim();
  if (text.length <= ROW_CHARS) return text;
  const cut = text.slice(0, ROW_CHARS - 1);
  const space = cut.lastIndexOf(" ");
  return `${space > ROW_CHARS / 2 ? cut.slice(0, space) : cut}…`;
}

/** The switch between the two lists. */
export function listViews(frame: Frame, current: "people" | "threads"): Html {
  const b = frame.base;
  return html`<nav class="views" aria-label="List">
  <a href="${b}"${current === "people" ? html` aria-current="page"` : ""}>By person</a>
  <a href="${b}?view=threads"${current === "threads" ? html` aria-current="page"` : ""}>By thread</a>
</nav>`;
}

function chatRow(frame: Frame, chat: Chat, now: number): Html {
  const b = frame.base;
  const last = chat.last;
  const mine = last?.direction === "sent";
  return html`<li class="conversation chat${chat.unread > 0 ? " unread" : ""}${mutedRow(frame, chat.people) ? " muted" : ""}">
  <a href="${b}p/${chat.id}#latest">
    <span class="line1"><span class="who">${chatPeople(frame, chat.people)}</span>${relativeTimeTag(chat.lastAt, now)}</span>
    <span class="line2">${last?.name ? html`<span class="subject">${last.name}</span> ` : ""}<span class="text">${mine ? html`<span class="you">You:</span> ` : ""}${
      last ? rowText(last.content) : ""
    }</span>${chat.unread > 0 ? html` <span class="badge">${chat.unread}<span class="visually-hidden"> unread</span></span>` : ""}${mutedRow(frame, chat.people) ? html` <span class="tag">muted</span>` : ""}</span>
    ${rowProblem(frame, frame.undeliveredByChat?.get(chat.id))}
  </a>
</li>`;
}

/** The inbox's default list: chats, latest activity first, 100 a page with an "Older" link (keyset). */
export function chatsPage(frame: Frame, p: { chats: Chat[]; next?: string; now: number }): Html {
  const b = frame.base;
  const list =
    p.chats.length === 0
      ? html`<p class="empty">No messages yet. <a href="${b}compose">Write one</a>.</p>`
      : html`<ul class="conversations chats">${p.chats.map((c) => chatRow(frame, c, p.now))}</ul>`;
  return layout(
    { ...frame, current: "inbox" },
    "Inbox",
    html`<div class="inbox-head">
  <h1>Conversations</h1>
  <a class="button primary" href="${b}compose">Write</a>
</div>
<form class="search" role="search" method="get" action="${b}">
  <label for="q" class="visually-hidden">Search messages</label>
  <input id="q" name="q" type="search" value="" placeholder="Search messages and sites">
  <button type="submit">Search</button>
</form>
${listViews(frame, "people")}
${list}${
  p.next
    ? html`
<p class="more"><a class="button" rel="next" href="${b}?before=${encodeURIComponent(p.next)}">Older</a></p>`
    : ""
}`,
  );
}

/**
 * One chat: its messages oldest first, newest last (`#latest`), a subject shown where it
 * changes, the reply box below, answering the latest message (its thread's people: §5).
 */
export function personPage(frame: Frame, chat: ChatThread, p: { draft?: string; autoRead?: boolean; before?: string } = {}): Html {
  const b = frame.base;
  const items = chat.items;
  const last = items.at(-1);
  const answered = p.before === undefined ? last : undefined;
  const targets = answered && frame.site ? replyTargets(frame.site, answered) : [];
  const unread = items.some((i) => i.direction === "received" && !i.read);
  // A delivery stuck retrying (pages/failures.ts) waits for its back-off: no refresh every 3 s for it (it would take the reply being typed).
  const pending = items.some((i) => i.direction === "sent" && i.deliveries.some((d) => d.status === "pending" && !d.attempts));
  const csrf = html`<input type="hidden" name="csrf" value="${frame.csrf ?? ""}">`;
  const title = chat.people.length === 0 ? "Yourself" : chat.people.map((s) => personView(frame, s).label).join(", ");
  // The messages' forms (Mark read, Delete, Retry now, Cancel) come back to this page, at these messages.
  const here = { ...frame, here: `p/${chat.id}${p.before === undefined ? "" : `?before=${encodeURIComponent(p.before)}`}` };
  return layout(
    { ...frame, current: "inbox", ...(pending ? { refreshSeconds: 3 } : {}) },
    title,
    html`<nav class="crumbs" aria-label="Breadcrumb"><a href="${b}">← Conversations</a></nav>
<div class="thread-head person-head">
  <h1>${chatPeople(frame, chat.people)}</h1>
  ${correspondentControls(frame, chat.people, `p/${chat.id}`)}
  <div class="thread-actions">
    <form method="post" action="${b}p/${chat.id}/read"${p.autoRead && unread ? html` data-auto-read` : ""}>${csrf}<input type="hidden" name="read" value="${unread ? "1" : "0"}"><button type="submit">Mark ${unread ? "read" : "unread"}</button></form>
  </div>
</div>
${
  chat.next
    ? html`<p class="more earlier"><a class="button" rel="prev" href="${b}p/${chat.id}?before=${encodeURIComponent(chat.next)}">Earlier messages</a></p>`
    : ""
}
<ol class="messages by-person" data-live-status="${b}p/${chat.id}/status.json"${p.before === undefined ? html` data-live="${b}p/${chat.id}/live" data-live-match="${chat.id}"` : ""} aria-live="polite">
${items.map((item, i) => {
  // Each message as its thread shows it; a subject where it changes (as the thread's own, so only a new one is written).
  const previous = items[i - 1];
  const thread = { id: item.conversation, subject: previous?.name, items } as unknown as Thread;
  return messageItem(here, thread, item as ThreadItem, i, previous, true);
})}
</ol>
${p.before !== undefined ? html`<p class="more"><a class="button" href="${b}p/${chat.id}#latest">Latest messages</a></p>` : ""}
${
  answered && targets.length > 0
    ? html`<form class="reply card" id="latest" method="post" action="${b}p/${chat.id}/reply">
  ${csrf}${composeKeyField(frame.composeKey, `reply p ${chat.id}`)}
  <h2 id="reply-heading">Reply</h2>
  <p class="hint" id="reply-to">To ${chatPeople(frame, targets)}, answering the latest message.</p>
  <label for="reply-text">Your reply</label>
  <textarea id="reply-text" name="content" rows="3" required aria-describedby="reply-to">${p.draft ?? ""}</textarea>
  <div class="form-actions"><button class="primary" type="submit">Send reply</button><span class="hint kbd-hint">Ctrl+Enter sends</span></div>
</form>`
    : ""
}`,
  );
}
