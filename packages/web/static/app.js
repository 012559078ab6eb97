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
        // Only deliveries stuck retrying (failures section below): look again soon after the next try, at most every 15 s.
        if (status.pending) setTimeout(tick, pollAfterTries(status.messages));
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
      next.textContent = ` · trying again at ${nextTryText(d.nextAttemptAt)}`;
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
    // The technical details line ("failed (forbidden)", the peer's sentence), closed.
    let tech = li.querySelector("details.tech");
    if (chip.code || chip.more) {
      if (!tech) {
        tech = document.createElement("details");
        tech.className = "tech";
        const summary = document.createElement("summary");
        summary.textContent = "Details";
        tech.append(summary, document.createElement("p"));
        if (actions) actions.before(tech);
        else li.append(tech);
      }
      const code = document.createElement("code");
      code.textContent = chip.code;
      tech.querySelector("p")?.replaceChildren(code, document.createTextNode(chip.more));
    } else tech?.remove();
  }

  // When a delivery is tried next, as short as it reads: "14:05" today, "Tue 09:00" this week, else the date too.
  const nextTryFormats = {
    today: new Intl.DateTimeFormat(undefined, { timeStyle: "short" }),
    week: new Intl.DateTimeFormat(undefined, { weekday: "short", hour: "numeric", minute: "2-digit" }),
    later: format,
  };
  function nextTryText(iso) {
    const at = new Date(iso);
    if (Number.isNaN(at.getTime())) return iso;
    const now = new Date();
    if (at.toDateString() === now.toDateString()) return nextTryFormats.today.format(at);
    return at.getTime() - now.getTime() < 6 * 86400000 ? nextTryFormats.week.format(at) : nextTryFormats.later.format(at);
  }
  function pollAfterTries(messages) {
    const pending = messages.flatMap((m) => m.deliveries).filter((d) => d.status === "pending");
    if (pending.length === 0 || pending.some((d) => !d.chip?.stuck)) return DELIVERY_POLL_MS;
    const next = Math.min(...pending.map((d) => Date.parse(d.nextAttemptAt) || 0));
    return Math.min(DELIVERY_POLL_MS * 10, Math.max(DELIVERY_POLL_MS, next - Date.now() + 500));
  }
  function nextTryTimes(root) {
    for (const el of root.querySelectorAll("time.next-try[datetime]")) el.textContent = nextTryText(el.getAttribute("datetime"));
  }

  // ——— Live (issue 12) ———
  // One poll of status.json?after=CURSOR feeds everything that says a message arrived, so
  // they agree at every moment: the nav badge and the tab title show the unread count (the
  // server's, muted correspondents not counted), and the banner names the latest arrival
  // outside the open conversation while anything is unread; all three clear together.
  // A list with `data-live` (the open thread; a person's page) gets new messages appended:
  //   data-live="URL"        answers <ol data-total="N"> of the latest li[data-key], rendered
  //                          and sanitized by the server (inserted as parsed, never built here);
  //   data-live-match="A B"  conversation IDs, chat IDs and/or sender sites whose arrivals belong to it;
  //   [data-live-total]      elsewhere on the page: set to "N messages".
  // Received ones are marked read by posting their own "Mark read" form while the page is
  // visible (later, when it becomes visible). Browser notifications, once the owner allowed
  // them ("Notify me of new messages"), name each new message while the tab is hidden.
  const live = (() => {
    const body = document.body;
    const url = body.getAttribute("data-status-url");
    const base = document.querySelector(".brand")?.getAttribute("href") || "./";
    const baseTitle = document.title.replace(/^\(\d+\) /, "");
    const every = Math.max(1000, Number(body.getAttribute("data-poll-ms")) || INBOX_POLL_MS);
    let cursor = body.getAttribute("data-cursor") || "";
    let news = null; // the latest arrival outside the open lists, shown while anything is unread
    const toMark = new Set(); // appended unread messages, marked read once seen

    const hidden = (text) => {
      const span = document.createElement("span");
      span.className = "visually-hidden";
      span.textContent = text;
      return span;
    };
    const liveLists = () => [...document.querySelectorAll("[data-live]")];
    const belongs = (list, a) => {
      const match = (list.getAttribute("data-live-match") || "").split(/\s+/).filter(Boolean);
      return match.includes(a.conversation) || match.includes(a.chat) || match.includes(a.sender);
    };

    function render(unread) {
      const link = document.querySelector('nav[aria-label="Main"] a');
      let badge = document.getElementById("unread-badge");
      if (unread > 0) {
        if (!badge && link) {
          badge = document.createElement("span");
          badge.className = "badge";
          badge.id = "unread-badge";
          link.append(badge);
        }
        if (badge && badge.textContent !== `, ${unread} unread`)
          badge.replaceChildren(hidden(", "), document.createTextNode(String(unread)), hidden(" unread"));
      } else badge?.remove();
      body.setAttribute("data-unread", String(unread));
      const title = unread > 0 ? `(${unread}) ${baseTitle}` : baseTitle;
      if (document.title !== title) document.title = title;
      const banner = document.getElementById("new-message");
      if (!banner) return;
      if (unread > 0 && news) {
        const text = `New message from ${news.label}. ${unread} unread.`;
        if (banner.hidden || banner.querySelector(".banner-text")?.textContent !== text) {
          const span = document.createElement("span");
          span.className = "banner-text";
          span.textContent = text;
          const open = document.createElement("a");
          open.href = news.href;
          open.textContent = news.href === base ? "Show inbox" : "Open the conversation";
          banner.replaceChildren(span, open);
          banner.hidden = false;
        }
      } else {
        news = null;
        banner.hidden = true;
        banner.replaceChildren();
      }
    }

    async function append(list) {
      const response = await fetch(list.getAttribute("data-live"), { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) return;
      const fragment = new DOMParser().parseFromString(await response.text(), "text/html").querySelector("ol[data-total]");
      if (!fragment) return;
      const have = new Set([...list.querySelectorAll("li[data-key]")].map((li) => li.getAttribute("data-key")));
      const items = [...fragment.children];
      // The fragment holds only the latest messages: when older ones were left out and it shares none with the
      // page, more arrived than it holds and some would be skipped. The page is read again
      // (a reply being typed is kept by the drafts section).
      if (have.size > 0 && fragment.hasAttribute("data-more") && !items.some((li) => have.has(li.getAttribute("data-key")))) {
        window.location.reload();
        return;
      }
      const atEnd = window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 200;
      let last = null;
      for (const li of items) {
        const key = li.getAttribute("data-key");
        if (!key || have.has(key)) continue;
        const node = document.importNode(li, true);
        list.append(node);
        localTimes(node);
        if (node.classList.contains("unread")) toMark.add(node);
        last = node;
      }
      const total = Number(fragment.getAttribute("data-total"));
      if (total > 0) for (const el of document.querySelectorAll("[data-live-total]")) el.textContent = `${total} message${total === 1 ? "" : "s"}`;
      if (last && atEnd) last.scrollIntoView({ block: "nearest" });
    }

    // Marks the appended messages read (each by its own form), when the page is seen. Resolves whether any changed.
    async function markSeen() {
      if (document.visibilityState !== "visible" || toMark.size === 0) return false;
      let changed = false;
      for (const li of [...toMark]) {
        toMark.delete(li);
        const form = li.querySelector('.message-actions form[action$="m/read"]');
        const read = form?.querySelector("input[name=read]");
        if (!form || read?.value !== "1") continue;
        try {
          const response = await fetch(form.action, {
            method: "POST",
            body: new URLSearchParams(new FormData(form)),
            credentials: "same-origin",
            redirect: "manual",
          });
          if (response.type !== "opaqueredirect" && !response.ok) continue;
          li.classList.remove("unread");
          read.value = "0";
          const button = form.querySelector("button");
          if (button) button.textContent = "Mark unread";
          changed = true;
        } catch {
          // Offline: it stays unread.
        }
      }
      return changed;
    }

    function notify(arrivals) {
      if (!("Notification" in window) || Notification.permission !== "granted" || document.visibilityState !== "hidden") return;
      const quiet = localStorage.getItem(`indiepm:${base}:notify-hide`) === "1";
      for (const a of arrivals) {
        try {
          const note = new Notification(a.label, {
            body: quiet ? "New message" : a.subject ? `${a.subject}: ${a.snippet}` : a.snippet,
            tag: `${a.sender} ${a.message}`,
          });
          note.onclick = () => {
            window.focus();
            location.href = a.href;
            note.close();
          };
        } catch {
          // A browser that shows notifications only from a service worker: none.
        }
      }
    }

    async function refresh() {
      if (url) render((await getJson(url)).unread);
    }

    async function tick() {
      try {
        const status = await getJson(`${url}?after=${encodeURIComponent(cursor)}`);
        cursor = status.cursor || cursor;
        const arrivals = status.arrivals || [];
        const lists = liveLists();
        for (const list of lists) if (arrivals.some((a) => belongs(list, a))) await append(list);
        const loud = arrivals.filter((a) => !a.read && !a.muted);
        notify(loud);
        const outside = loud.filter((a) => !lists.some((list) => belongs(list, a)));
        if (outside.length > 0) news = outside.at(-1);
        if (await markSeen()) await refresh();
        else render(status.unread);
        if (status.more) location.reload();
      } catch {
        // Signed out or offline: try again later.
      }
      setTimeout(tick, every);
    }

    function start() {
      if (!url) return;
      if (cursor) setTimeout(tick, every);
      document.addEventListener("visibilitychange", () => {
        markSeen()
          .then((changed) => changed && refresh())
          .catch(() => undefined);
      });
    }

    // The offer of browser notifications: shown while the browser has not been asked, asked only on a click.
    function offer() {
      const box = document.getElementById("notify-offer");
      if (!box || !("Notification" in window)) return;
      const key = `indiepm:${base}:notify-later`;
      const text = document.getElementById("notify-text");
      const on = document.getElementById("notify-on");
      const later = document.getElementById("notify-later");
      const hideLabel = document.getElementById("notify-hide-label");
      const hide = document.getElementById("notify-hide");
      if (Notification.permission === "default" && localStorage.getItem(key) !== "1") box.hidden = false;
      on?.addEventListener("click", async () => {
        const answer = await Notification.requestPermission();
        on.hidden = true;
        if (later) later.textContent = "Close";
        if (answer === "granted") {
          text.textContent = "Notifications are on: each new message shows while this tab is in the background.";
          if (hideLabel) hideLabel.hidden = false;
        } else text.textContent = "Notifications are off: this browser did not allow them. You can allow them in its settings for this site.";
      });
      later?.addEventListener("click", () => {
        localStorage.setItem(key, "1");
        box.hidden = true;
      });
      if (hide) {
        hide.checked = localStorage.getItem(`indiepm:${base}:notify-hide`) === "1";
        hide.addEventListener("change", () => localStorage.setItem(`indiepm:${base}:notify-hide`, hide.checked ? "1" : "0"));
      }
    }

    return { start, refresh, offer };
  })();
  // ——— end of Live ———

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

  function refreshBadge() {
    return live.refresh();
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

  // drafts — what is typed in a compose or reply form (its key input names the draft:
  // input[name=key][data-draft]) is kept in this
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
    // The signed-in site (several may share one inbox); the forms only exist when signed in.
    const me = document.querySelector(".account .me")?.getAttribute("title") || document.body.getAttribute("data-site") || "-";
    const POSTED = "indiepm-draft-posted";
    const posted = sessionStorage.getItem(POSTED);
    if (posted) {
      sessionStorage.removeItem(POSTED);
      const notice = document.querySelector("[data-notice]")?.getAttribute("data-notice") || "";
      if (/^(sent|sent-retrying|already-sent)$/.test(notice)) store.removeItem(posted);
    }
    for (const key of document.querySelectorAll("input[name=key][data-draft]")) {
      const form = key.form;
      if (!form) continue;
      const name = `indiepm-draft ${location.origin}${base} ${me} ${key.getAttribute("data-draft")}`;
      const fields = [...form.elements].filter(
        (el) => el.name && (el instanceof HTMLTextAreaElement || (el instanceof HTMLInputElement && (el.type === "text" || el.type === "url"))),
      );
      const values = () => Object.fromEntries(fields.map((el) => [el.name, el.value]));
      const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
      // As the server makes them (compose-keys.ts): 18 random bytes, base64url.
      const newKey = () =>
        btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(18))))
          .replace(/\+/g, "-")
          .replace(/\//g, "_");
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

  // ——— To: suggestions for each recipient (issue 12, people) ———
  // The To field's <datalist> (people.ts peopleDatalist) suggests whole values: without this
  // script it helps with the first recipient only. While another is typed after a separator
  // (commas, spaces or semicolons, as core's parseRecipientList splits), each suggestion is
  // what is already typed followed by that person's site, so picking one adds them and keeps
  // the rest; people already typed are not suggested again. Chromium matches an option by its
  // value or label containing what is typed, so the label is prefixed too (found by name), and
  // an https site is written without its scheme unless the entry starts with one.
  const toSuggestions = () => {
    const input = document.querySelector("input#to[list]");
    const list = input && document.getElementById(input.getAttribute("list"));
    if (!list) return;
    const key = (site) =>
      site
        .trim()
        .toLowerCase()
        .replace(/^https?:\/\//, "")
        .replace(/\/$/, "");
    const update = () => {
      const text = input.value;
      const prefix = /^[\s\S]*[\s,;]/.exec(text)?.[0] ?? "";
      const entry = text.slice(prefix.length).toLowerCase();
      const withScheme = /^https?:/.test(entry) || (entry.length >= 4 && "https://".startsWith(entry));
      const typed = new Set(
        prefix
          .split(/[\s,;]+/)
          .filter(Boolean)
          .map(key),
      );
      for (const option of list.querySelectorAll("option")) {
        // The server's value and label, kept before the first change.
        if (option.dataset.site === undefined) {
          option.dataset.site = option.value;
          option.dataset.label = option.label;
        }
        const site = option.dataset.site;
        const written = !prefix || withScheme || !/^https:\/\//i.test(site) ? site : site.slice("https://".length);
        option.value = prefix + written;
        if (prefix) option.label = prefix + option.dataset.label;
        else option.removeAttribute("label");
        option.disabled = typed.has(key(site));
      }
    };
    input.addEventListener("input", update);
    input.addEventListener("focus", update); // a draft put back (drafts section) fires no input
    update();
  };

  localTimes(document);
  nextTryTimes(document);
  toSuggestions();
  byPerson();
  liveDeliveries();
  autoRead();
  live.start();
  live.offer();
  quickSend();
  singleSubmit();
  drafts();
})();
