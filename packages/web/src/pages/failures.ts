/**
 * Issue 12 "Sending": failed and stuck deliveries as the owner sees them. The navigation's
 * "Not delivered (N)" entry, the Not delivered page (each delivery with its next try, the
 * reason in plain words, the technical code in a details line, Retry now and Cancel), the
 * note on a conversation row, and the delivery chips of a thread with the same buttons.
 * The handlers are ../failures.ts; the wording of a reason is core's (`deliveryReason`).
 */
import { deliveryId, deliveryReason, type DeliveryProblem, type DeliveryView, type ThreadItem } from "@indiepm/core";
import { html, type Html } from "../html.js";
import { layout, timeTag, type Frame } from "../pages.js";
import { personLabel, personView } from "../people.js";
import { backPath } from "../return-to.js";

/**
 * When a delivery is tried next: "14:05 UTC" on the day it is written (the date too
 * otherwise); app.js says it in the reader's zone, as short ("14:05", "Tue 09:00").
 */
export function nextTryTag(iso: string | undefined, now = Date.now()): Html {
  const at = iso ? new Date(iso) : undefined;
  if (!at || Number.isNaN(at.getTime())) return html``;
  const text = at.toISOString();
  const sameDay = text.slice(0, 10) === new Date(now).toISOString().slice(0, 10);
  return html`<time class="next-try" datetime="${text}">${sameDay ? "" : `${text.slice(0, 10)} `}${text.slice(11, 16)} UTC</time>`;
}

/** Where a retry or cancel form sends the owner back to: the page it was on (this one, a thread, a person's page: return-to.ts `backPath`), else this page. */
export function failuresBack(value: string | null | undefined): string {
  return backPath(value, "deliveries");
}

function csrf(frame: Frame): Html {
  return html`<input type="hidden" name="csrf" value="${frame.csrf ?? ""}">`;
}

/** The navigation entry: only while something is not delivered (or on its own page). */
export function undeliveredNav(frame: Frame): Html {
  const count = frame.undelivered ?? 0;
  const here = frame.current === "deliveries";
  if (count === 0 && !here) return html``;
  // On a phone the words are read, not shown (⚠ and the count are): the navigation stays one line.
  return html`<a class="undelivered-nav" href="${frame.base}deliveries"${here ? html` aria-current="page"` : ""}><span class="undelivered-icon" aria-hidden="true">⚠</span><span class="undelivered-words">Not delivered</span>${
    count > 0 ? html` <span class="badge warn" id="undelivered-badge">(${count})</span>` : ""
  }</a>`;
}

/** Retry now and Cancel for one delivery, each naming its recipient for screen readers. */
function actionForms(frame: Frame, id: string, recipient: string, back: string): Html {
  const who = html`<span class="visually-hidden"> the message to ${personView(frame, recipient).label}</span>`;
  const form = (action: "retry" | "cancel", label: string, cls: string) =>
    html`<form class="inline-form" method="post" action="${frame.base}deliveries/${action}">${csrf(frame)}<input type="hidden" name="id" value="${id}"><input type="hidden" name="back" value="${back}"><button type="submit" class="${cls}">${label}${who}</button></form>`;
  return html`${form("retry", "Retry now", "")}${form("cancel", "Cancel", "danger")}`;
}

/**
 * The technical details line: "failed (forbidden)" or "retrying (network_error)" (the
 * chip's words before issue 12), then the peer's sentence and the failed tries.
 */
export function technicalText(
  state: "failed" | "stuck",
  error: string | undefined,
  detail: string | undefined,
  attempts: number | undefined,
): { code: string; more: string } {
  if (!error && !detail) return { code: "", more: "" };
  const tries = attempts ? ` (${attempts} failed ${attempts === 1 ? "try" : "tries"})` : "";
  return { code: error ? `${state === "failed" ? "failed" : "retrying"} (${error})` : "", more: `${detail ? ` ${detail}` : ""}${tries}` };
}

function technical(t: { code: string; more: string }): Html {
  if (!t.code && !t.more) return html``;
  return html`<details class="tech"><summary>Details</summary><p><code>${t.code}</code>${t.more}</p></details>`;
}

/** The state line of a failed or stuck delivery. */
function stateLine(state: "failed" | "stuck", nextAttemptAt: string | undefined): Html {
  return state === "failed"
    ? html`<strong>Not delivered.</strong> It will not be tried again unless you retry.`
    : html`<strong>Not delivered yet.</strong> Trying again at ${nextTryTag(nextAttemptAt)}.`;
}

export function deliveriesPage(frame: Frame, problems: readonly DeliveryProblem[]): Html {
  const b = frame.base;
  const items = problems.map((p) => {
    const what = p.subject ?? p.snippet ?? "(the message was deleted)";
    return html`<li class="card undelivered-item ${p.state}">
  <p class="what">${p.conversation ? html`<a href="${b}c/${p.conversation}">${what}</a>` : what}</p>
  <p class="meta">To ${personLabel(frame, p.recipient, { avatar: false })}${p.createdAt ? html` · written ${timeTag(p.createdAt)}` : ""}</p>
  <p class="state">${stateLine(p.state, p.nextAttemptAt)}</p>
  <p class="reason">${p.reason}</p>
  ${technical(technicalText(p.state, p.error, p.detail, p.attempts))}
  <div class="undelivered-actions">${actionForms(frame, p.id, p.recipient, "deliveries")}</div>
</li>`;
  });
  return layout(
    { ...frame, current: "deliveries" },
    "Not delivered",
    html`<h1>Not delivered</h1>
${
  problems.length === 0
    ? html`<p class="empty">Every message you sent was delivered or is on its way. <a href="${b}">Back to the inbox</a>.</p>`
    : html`<p class="hint">Messages that have not reached someone. Those not delivered yet are tried again on their own; Retry now tries at once, Cancel stops for good.</p>
<ul class="undelivered-list">${items}</ul>`
}`,
  );
}

/** A delivery view that is stuck: pending after a failed try. */
function isStuck(d: DeliveryView): boolean {
  return d.status === "pending" && (d.attempts ?? 0) > 0;
}

/** The chip's words (app.js's live updater shows the same, from `chipState`). */
export function chipState(d: DeliveryView): { text: string; stuck: boolean; cancelled: boolean; reason: string; actions: boolean; code: string; more: string } {
  const cancelled = d.status === "failed" && d.error === "cancelled";
  const stuck = isStuck(d);
  const text = cancelled ? "cancelled" : d.status === "failed" ? "not delivered" : stuck ? "not delivered yet" : d.status === "pending" ? "sending…" : d.status;
  const reason = cancelled || d.status === "delivered" || (d.status === "pending" && !stuck) ? "" : deliveryReason(d.error, d.recipient);
  const actions = (d.status === "failed" && !cancelled) || stuck;
  const tech = actions ? technicalText(stuck ? "stuck" : "failed", d.error, d.detail, d.attempts) : { code: "", more: "" };
  return { text, stuck, cancelled, reason, actions, ...tech };
}

/**
 * The delivery chips of a sent message: "sending…", "delivered", "not delivered yet · trying
 * again at …", "not delivered", "cancelled", with the reason in plain words, a details line,
 * and Retry now / Cancel beside a failed or stuck one (present but hidden on a chip still
 * sending, for app.js to show when it gets stuck).
 */
export function deliveryChips(frame: Frame, item: ThreadItem & { direction: "sent" }, back: string): Html {
  return html`<ul class="deliveries" data-message="${item.message}" aria-label="Delivery">${item.deliveries.map((d) => {
    const s = chipState(d);
    const open = d.status !== "delivered" && !s.cancelled;
    return html`<li class="delivery ${d.status}${s.stuck ? " stuck" : ""}${s.cancelled ? " cancelled" : ""}" data-recipient="${d.recipient}"><span class="site">${personView(frame, d.recipient).label}</span>: <span class="state">${s.text}</span>${
      s.stuck ? html`<span class="next"> · trying again at ${nextTryTag(d.nextAttemptAt)}</span>` : ""
    }${s.reason ? html`<span class="detail">${s.reason}</span>` : ""}${s.actions ? technical(s) : ""}${
      open
        ? html`<span class="delivery-actions"${s.actions ? "" : html` hidden`}>${actionForms(frame, deliveryId(item.sender, d.recipient, item.message), d.recipient, back)}</span>`
        : ""
    }</li>`;
  })}</ul>`;
}

/** A conversation row's note when one of its messages was not delivered (the worst of them: failed before stuck). */
export function rowProblem(frame: Frame, problems: readonly DeliveryProblem[] | undefined): Html {
  if (!problems || problems.length === 0) return html``;
  const who = (site: string) => personView(frame, site).label;
  const failed = problems.find((p) => p.state === "failed");
  if (failed) return html`<span class="line3 undelivered-note failed"><span aria-hidden="true">⚠ </span>Not delivered to ${who(failed.recipient)}</span>`;
  const next = [...problems].sort((a, b) => (a.nextAttemptAt ?? "").localeCompare(b.nextAttemptAt ?? ""))[0]!;
  return html`<span class="line3 undelivered-note stuck"><span aria-hidden="true">⚠ </span>Not delivered yet to ${who(next.recipient)} · trying again at ${nextTryTag(next.nextAttemptAt)}</span>`;
}

/** The problems of each conversation or chat (by its id), for `rowProblem`. */
export function problemsBy(problems: readonly DeliveryProblem[], key: "conversation" | "chat"): Map<string, DeliveryProblem[]> {
  const by = new Map<string, DeliveryProblem[]>();
  for (const p of problems) {
    const id = p[key];
    if (id) by.set(id, [...(by.get(id) ?? []), p]);
  }
  return by;
}
