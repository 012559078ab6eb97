// indiepm web inbox: progressive enhancement only. Every page works without this file;
// with it, delivery status updates live, a banner says when a message arrives, times
// show in the reader's zone, an opened conversation is marked read (by posting its own
// "Mark read" form: the GET of the page changes nothing), and Ctrl+Enter sends. Served from the inbox's own origin
// (CSP script-src 'self'); it never inserts HTML, only text.

(() => {
  const DELIVERY_POLL_MS = 1500;
  const INBOX_POLL_MS = 10000;
  const STATE_TEXT = { pending: "sending…", delivered: "delivered", failed: "failed" };

  async function getJson(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { accept: "application/json" }, cache: "no-store" });
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
    return response.json();
  }

  // Times: "2025-11-26 14:32 UTC" becomes the reader's local date and time.
  const format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  function localTimes(root) {
    for (const el of root.querySelectorAll("time[datetime]:not(.rel)")) {
      const date = new Date(el.getAttribute("datetime"));
      if (!Number.isNaN(date.getTime())) {
        el.title = el.textContent;
        el.textContent = format.format(date);
      }
    }
  }

  // Live delivery status of the sent messages of a conversation.
  function liveDeliveries() {
    const list = document.querySelector("[data-live-status]");
    if (!list?.querySelector(".delivery.pending")) return;
    const url = list.getAttribute("data-live-status");
    const tick = async () => {
      try {
        const status = await getJson(url);
        for (const m of status.messages) {
          const ul = [...list.querySelectorAll("ul.deliveries")].find((u) => u.getAttribute("data-message") === m.message);
          if (!ul) continue;
          for (const d of m.deliveries) {
            const li = [...ul.children].find((x) => x.getAttribute("data-recipient") === d.recipient);
            if (!li) continue;
            if (d.chip) {
              failureChip(li, d);
              continue;
            }
            li.className = `delivery ${d.status}`;
            const state = li.querySelector(".state");
            const text = (STATE_TEXT[d.status] || d.status) + (d.status === "failed" && d.error ? ` (${d.error})` : "");
            if (state && state.textContent !== text) state.textContent = text;
            let detail = li.querySelector(".detail");
            const detailText = d.detail && d.status !== "delivered" ? d.detail : "";
            if (detailText && !detail) {
              detail = document.createElement("span");
              detail.className = "detail";
              li.append(detail);
            }
            if (detail) detail.textContent = detailText;
          }
        }
        // Only deliveries stuck retrying (failures section below): they wait for their back-off, so look less often.
        const sending = status.messages.some((m) => m.deliveries.some((d) => d.status === "pending" && !d.chip?.stuck));
        if (status.pending) setTimeout(tick, sending ? DELIVERY_POLL_MS : DELIVERY_POLL_MS * 10);
      } catch {
        setTimeout(tick, DELIVERY_POLL_MS * 4);
      }
    };
    setTimeout(tick, DELIVERY_POLL_MS);
  }

  // ——— Failures (issue 12): a delivery chip as the server words it (`chip` of c/ID/status.json,
  // pages/failures.ts): "not delivered yet · trying again at …" with the reason, Retry now and
  // Cancel shown beside a stuck or failed one (its forms are in the page, hidden until then).
  function failureChip(li, d) {
    const chip = d.chip;
    li.className = `delivery ${d.status}${chip.stuck ? " stuck" : ""}${chip.cancelled ? " cancelled" : ""}`;
    const state = li.querySelector(".state");
    if (state && state.textContent !== chip.text) state.textContent = chip.text;
    let next = li.querySelector(".next");
    if (chip.stuck && d.nextAttemptAt) {
      if (!next) {
        next = document.createElement("span");
        next.className = "next";
        state?.after(next);
      }
      const at = new Date(d.nextAttemptAt);
      next.textContent = ` · trying again at ${Number.isNaN(at.getTime()) ? d.nextAttemptAt : format.format(at)}`;
    } else next?.remove();
    let detail = li.querySelector(".detail");
    if (chip.reason && !detail) {
      detail = document.createElement("span");
      detail.className = "detail";
      (next ?? state)?.after(detail);
    }
    if (detail) {
      if (chip.reason) detail.textContent = chip.reason;
      else detail.remove();
    }
    const actions = li.querySelector(".delivery-actions");
    if (actions) actions.hidden = !chip.actions;
  }

  // "New message" indicator: polls the unread count; no web push, nothing leaves the inbox.
  function newMessageIndicator() {
    const url = document.body.getAttribute("data-status-url");
    if (!url) return;
    const every = Math.max(1000, Number(document.body.getAttribute("data-poll-ms")) || INBOX_POLL_MS);
    let latest = document.body.getAttribute("data-latest") || "";
    const banner = document.getElementById("new-message");
    const base = document.querySelector(".brand")?.getAttribute("href") || "./";
    const tick = async () => {
      try {
        const status = await getJson(url);
        const arrived = (status.latestReceivedAt || "") !== latest && (status.latestReceivedAt || "") > latest;
        if (arrived && banner) {
          banner.replaceChildren();
          const text = document.createElement("span");
          text.textContent = status.unread === 1 ? "A new message arrived." : `New messages: ${status.unread} unread.`;
          const link = document.createElement("a");
          link.href = base;
          link.textContent = "Show inbox";
          banner.append(text, link);
          banner.hidden = false;
          document.title = `(${status.unread}) ${document.title.replace(/^\(\d+\) /, "")}`;
        }
        latest = status.latestReceivedAt || latest;
      } catch {
        // Signed out or offline: try again later.
      }
      setTimeout(tick, every);
    };
    setTimeout(tick, every);
  }

  // An opened conversation is read: post its "Mark read" form (with its CSRF token), then
  // show the page as read. Without this script the owner presses the button.
  function autoRead() {
    const form = document.querySelector("form[data-auto-read]");
    if (!form) return;
    const body = new URLSearchParams(new FormData(form));
    fetch(form.action, { method: "POST", body, credentials: "same-origin", redirect: "manual" })
      .then((response) => {
        // 303 to the inbox: done (not followed, "manual"). Anything else leaves the page as it is.
        if (response.type !== "opaqueredirect" && !response.ok) return;
        form.removeAttribute("data-auto-read");
        const flip = (f) => {
          const read = f.querySelector("input[name=read]");
          const button = f.querySelector("button");
          if (read) read.value = "0";
          if (button) button.textContent = "Mark unread";
        };
        flip(form);
        for (const li of document.querySelectorAll("li.message.unread")) {
          li.classList.remove("unread");
          const own = li.querySelector(".message-actions form input[name=read]");
          if (own) flip(own.form);
        }
        return refreshBadge();
      })
      .catch(() => undefined);
  }

  async function refreshBadge() {
    const url = document.body.getAttribute("data-status-url");
    const badge = document.getElementById("unread-badge");
    if (!url || !badge) return;
    const status = await getJson(url);
    if (!status.unread) {
      badge.remove();
      return;
    }
    const hidden = (text) => {
      const span = document.createElement("span");
      span.className = "visually-hidden";
      span.textContent = text;
      return span;
    };
    badge.replaceChildren(hidden(", "), document.createTextNode(String(status.unread)), hidden(" unread"));
  }

  // Ctrl+Enter (or Cmd+Enter) in a message box sends its form.
  function quickSend() {
    document.addEventListener("keydown", (event) => {
      const target = event.target;
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && target instanceof HTMLTextAreaElement && target.form) {
        event.preventDefault();
        target.form.requestSubmit();
      }
    });
  }

  // A form submitted once is not submitted twice by an impatient second click.
  function singleSubmit() {
    document.addEventListener("submit", (event) => {
      const form = event.target;
      if (!(form instanceof HTMLFormElement)) return;
      if (form.dataset.sending === "1") {
        event.preventDefault();
        return;
      }
      form.dataset.sending = "1";
      setTimeout(() => delete form.dataset.sending, 5000);
    });
  }

  // drafts — what is typed in a compose or reply form (form[data-draft]) is kept in this
  // browser (localStorage, per inbox, site and form) until it is sent, and put back into
  // the empty form when it opens again: after a reload, a crash, or a session that ended
  // and a sign-in that came back here. The page after a send says so (data-notice="sent",
  // "sent-retrying", "already-sent"): the draft of the form just posted goes then. A draft
  // keeps the form's one-time key, and so does the history entry of a form posted: Back
  // and Send again with the same text posts the same key (whether the browser kept the page
  // or loaded it again), and the server answers with the message already sent instead of
  // sending it twice (compose-keys.ts).
  function drafts() {
    // Back to a page kept whole by the browser (the back/forward cache): a form posted from
    // it may be posted again (its key says it was sent), so the single-submit guard is lifted.
    window.addEventListener("pageshow", (event) => {
      if (event.persisted) for (const f of document.querySelectorAll("form[data-sending]")) delete f.dataset.sending;
    });
    let store;
    try {
      store = window.localStorage;
      store.length;
    } catch {
      return;
    }
    const base = document.querySelector(".brand")?.getAttribute("href") || "/";
    const me = document.querySelector(".account .me")?.getAttribute("title") || "";
    const POSTED = "indiepm-draft-posted";
    const posted = sessionStorage.getItem(POSTED);
    if (posted) {
      sessionStorage.removeItem(POSTED);
      const notice = document.querySelector("[data-notice]")?.getAttribute("data-notice") || "";
      if (/^(sent|sent-retrying|already-sent)$/.test(notice)) store.removeItem(posted);
    }
    if (!me) return;
    for (const form of document.querySelectorAll("form[data-draft]")) {
      const name = `indiepm-draft ${location.origin}${base} ${me} ${form.getAttribute("data-draft")}`;
      const fields = [...form.elements].filter(
        (el) => el.name && (el instanceof HTMLTextAreaElement || (el instanceof HTMLInputElement && (el.type === "text" || el.type === "url"))),
      );
      const key = form.querySelector("input[name=key]");
      const values = () => Object.fromEntries(fields.map((el) => [el.name, el.value]));
      const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
      // As the server makes them (compose-keys.ts): 18 random bytes, base64url.
      const newKey = () => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(18)))).replace(/\+/g, "-").replace(/\//g, "_");
      // A kept draft fills a form nobody has typed in yet.
      let draft = null;
      try {
        draft = JSON.parse(store.getItem(name) || "null");
      } catch {
        draft = null;
      }
      if (draft?.values && fields.every((el) => el.value === el.defaultValue)) {
        let restored = false;
        for (const el of fields) {
          const value = draft.values[el.name];
          if (!el.value && typeof value === "string" && value) {
            el.value = value;
            restored = true;
          }
        }
        if (restored && key && typeof draft.key === "string") key.value = draft.key;
      }
      const save = () => {
        const now = values();
        if (fields.every((el) => !el.value.trim() || el.value === el.defaultValue)) {
          store.removeItem(name);
          return;
        }
        try {
          store.setItem(name, JSON.stringify({ values: now, key: key?.value, savedAt: Date.now() }));
        } catch {
          // Storage full or refused: the form still works.
        }
      };
      let timer;
      form.addEventListener("input", () => {
        clearTimeout(timer);
        timer = setTimeout(save, 300);
      });
      form.addEventListener("submit", () => {
        clearTimeout(timer);
        // This history entry's form was posted before (Back): the same text goes with the
        // same key (the server answers with the message already sent); other text, a new key.
        const earlier = history.state?.posted?.[name];
        if (key && earlier) {
          if (same(values(), earlier.values)) key.value = earlier.key;
          else if (key.value === earlier.key) key.value = newKey();
        }
        save();
        sessionStorage.setItem(POSTED, name);
        const state = history.state && typeof history.state === "object" ? history.state : {};
        history.replaceState({ ...state, posted: { ...state.posted, [name]: { key: key?.value, values: values() } } }, "");
      });
    }
  }


  // ——— By person (issue 12) ———
  // Relative times (time.rel: "now", "2 min", "14:05", "Tue", "3 Mar", "3 Mar 2025") in the
  // reader's zone, kept fresh each half minute; the rule of pages/by-person.ts relativeTime.
  // A conversation opens at its newest message with the reply box in view: the box is
  // scrolled to the bottom of the window (without this script, the #latest link's target
  // is placed by CSS scroll-margin). Not when the address names another place on the page.
  const byPerson = () => {
    const long = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "short" });
    const hm = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    const weekday = new Intl.DateTimeFormat("en-GB", { weekday: "short" });
    const dayMonth = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short" });
    const dayMonthYear = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "short", year: "numeric" });
    const midnight = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
    const relative = (at, now) => {
      const ago = now - at.getTime();
      if (Math.abs(ago) < 60000) return "now";
      if (ago > 0 && ago < 3600000) return `${Math.floor(ago / 60000)} min`;
      const days = Math.round((midnight(now) - midnight(at)) / 86400000);
      if (days === 0) return hm.format(at);
      if (days > 0 && days < 7) return weekday.format(at);
      return (at.getFullYear() === now.getFullYear() ? dayMonth : dayMonthYear).format(at);
    };
    const refresh = () => {
      const now = new Date();
      for (const el of document.querySelectorAll("time.rel[datetime]")) {
        const at = new Date(el.getAttribute("datetime"));
        if (Number.isNaN(at.getTime())) continue;
        const text = relative(at, now);
        if (el.textContent !== text) el.textContent = text;
        el.title = long.format(at);
      }
    };
    refresh();
    setInterval(refresh, 30000);
    const reply = document.querySelector("form.reply");
    if (reply && document.querySelector("ol.messages") && (location.hash === "" || location.hash === "#latest")) {
      reply.scrollIntoView({ block: "end" });
    }
  };

  localTimes(document);
  byPerson();
  liveDeliveries();
  autoRead();
  newMessageIndicator();
  quickSend();
  singleSubmit();
  drafts();
})();
