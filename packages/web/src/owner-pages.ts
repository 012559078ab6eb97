/**
 * What a signed-in owner does: the conversation list, a conversation, compose, reply,
 * read marks and deletes, settings, export, and the JSON app.js polls. Each handler is a
 * row of the route table in inbox.ts; forms are read and checked by forms.ts first.
 */
import { conversationId, HOST_BLOCK_PREFIX, parseRecipientList, PmError, RecipientsRefusedError, TooManyRecipientsError, type Thread } from "@indiepm/core";
import { sendOnce, sendReply, sentNotice } from "./compose-keys.js";
import { sendRefusalSentence } from "./pages/send.js";
import { WebInboxError } from "./errors.js";
import type { Forms } from "./forms.js";
import { createLivePages } from "./live-pages.js";
import { normalizeProfileUrl } from "./indieauth.js";
import type { ResolvedInboxOptions } from "./options.js";
import { createFlash, type FlashData } from "./flash.js";
import { composePage, inboxPage, messagePage, threadPage, type ComposeValues, type Frame } from "./pages.js";
import { settingsPage } from "./pages/settings.js";
import { undeliveredFrame } from "./failures.js";
import { chipState } from "./pages/failures.js";
import { HttpAnswer, json, page, redirect } from "./responses.js";
import type { Session } from "./sign-in.js";
import { withContacts, withPeople } from "./people.js";
import { backPath } from "./return-to.js";
import { profileUrl } from "./micropub/profile.js";

/** A signed-in owner's request, as a route handler sees it. */
export interface OwnerRequest {
  session: Session;
  query: URLSearchParams;
}

type Handler = (request: Request, params: Record<string, string>, owner: OwnerRequest) => Promise<Response>;

export function createOwnerPages(inbox: ResolvedInboxOptions, forms: Forms) {
  const { pm, base, policy } = inbox;
  const back = { href: base, label: "Back to the inbox" };
  /** A path under the inbox, with a `?notice=` the next page shows. */
  const path = (rest: string, notice?: string) => `${base}${rest}${notice ? `${rest.includes("?") ? "&" : "?"}notice=${notice}` : ""}`;

  async function frameFor(session: Session, notice?: string | null): Promise<Frame> {
    const undelivered = undeliveredFrame(pm, session.site); // the navigation's "Not delivered (N)" and the rows' notes, read beside the rest
    const [status, settings] = await Promise.all([pm.inboxStatus({ site: session.site }), pm.settings(session.site)]);
    return {
      base,
      site: session.site,
      csrf: session.csrf,
      pollMs: inbox.pollSeconds * 1000,
      unread: status.unread,
      ...(await undelivered),
      cursor: status.cursor,
      muted: settings.muted ?? [],
      blocked: settings.blocked,
      ...(status.latestReceivedAt ? { latestReceivedAt: status.latestReceivedAt } : {}),
      ...(notice ? { notice } : {}),
    };
  }

  async function threadOf(session: Session, id: string): Promise<Thread> {
    const thread = await pm.thread(id);
    if (!thread || thread.site !== session.site) {
      throw new HttpAnswer(page(messagePage(await frameFor(session), "Not found", "There is no such conversation in your inbox.", back), 404));
    }
    return thread;
  }

  // Post/Redirect/Get: a refused form comes back to the page by a redirect carrying its error and values (flash.ts).
  const flash = createFlash(pm);

  /**
   * A settings form (`name`: its action under settings/): `change` applies it and the
   * page is shown again by a redirect (a reload re-submits nothing). Its own errors and the
   * engine's `invalid_request` come back the same way, beside `field` with the values of
   * `keep` as typed (flash.ts); `plain` turns the engine's sentence into words for people
   * (the engine's kept as the details line).
   */
  function settingsForm(
    name: string,
    field: string,
    keep: string[],
    // biome-ignore lint/suspicious/noConfusingVoidType: a change that answers nothing (void) falls back to the redirect
    change: (form: URLSearchParams, session: Session) => Promise<Response | void>,
    plain?: (error: PmError) => string,
  ): Handler {
    return async (request, _params, { session }) => {
      const form = await forms.readChecked(request, session.csrf);
      try {
        return (await change(form, session)) ?? redirect(path("settings", "saved"));
      } catch (error) {
        if (error instanceof WebInboxError || (error instanceof PmError && error.code === "invalid_request")) {
          const message = error instanceof PmError && plain ? plain(error) : error.message;
          const data: FlashData = {
            form: name,
            error: { field, message, ...(message !== error.message ? { detail: error.message } : {}) },
            values: Object.fromEntries(keep.map((k) => [k, form.get(k) ?? ""])),
          };
          return redirect(await flash.location(session, path("settings"), data));
        }
        throw error;
      }
    };
  }

  /** What the "Block a site" form adds: the site's URL, or `host:` and its host (protocol/policy.ts), typed or ticked. */
  function blockEntry(typed: string, wholeHost: boolean): string {
    const text = typed.trim();
    if (text.toLowerCase().startsWith(HOST_BLOCK_PREFIX)) return text;
    const url = normalizeProfileUrl(text, { dev: true });
    return wholeHost ? `${HOST_BLOCK_PREFIX}${new URL(url).host}` : url;
  }

  /** The engine's refusal of a webhook URL ("webhook is refused: …", "webhook is not an absolute URL."), for people. */
  function webhookSentence(engine: string): string {
    if (/not an absolute URL/.test(engine)) return "Enter the whole address of your webhook, starting with https://.";
    const why = /refused: (.*?)\.?$/.exec(engine)?.[1];
    return why ? `This address cannot be used for a webhook: ${why}.` : "This address cannot be used for a webhook.";
  }

  // Issue 12 "Live": arrivals in status.json, the live fragment of a thread, mute and block from a conversation.
  const live = createLivePages(inbox, forms, frameFor);

  const pages = {
    frameFor,

    async notFound(session: Session): Promise<Response> {
      return page(messagePage(await frameFor(session), "Not found", "There is no such page here.", back), 404);
    },

    conversations: (async (_request, _params, { session, query }) => {
      const q = (query.get("q") ?? "").trim().slice(0, 200);
      const before = query.get("before") ?? undefined;
      const { items: conversations, next } = await pm.conversationsPage({ site: session.site, ...(q ? { q } : {}), ...(before ? { before } : {}) });
      const frame = await withPeople(
        pm,
        await frameFor(session, query.get("notice")),
        conversations.flatMap((c) => c.participants),
      );
      return page(inboxPage(frame, { conversations, q, ...(next ? { next } : {}) }));
    }) satisfies Handler,

    status: (async (_request, _params, { session, query }) =>
      json({ ...(await pm.inboxStatus({ site: session.site })), ...(await live.arrivalsFor(session, query)) })) satisfies Handler,
    liveItems: (...args: Parameters<Handler>) => live.liveItems(...args),
    liveChatItems: (...args: Parameters<Handler>) => live.liveChatItems(...args),
    mutePerson: (...args: Parameters<Handler>) => live.mute(...args),
    blockPerson: (...args: Parameters<Handler>) => live.block(...args),

    exportAll: (async (_request, _params, { session }) => {
      const doc = await pm.exportAll({ site: session.site });
      const response = json(doc);
      response.headers.set(
        "content-disposition",
        `attachment; filename="indiepm-${new URL(session.site).host.replace(/[^A-Za-z0-9.-]/g, "_")}-${doc.exportedAt.slice(0, 10)}.json"`,
      );
      return response;
    }) satisfies Handler,

    conversation: (async (_request, { id }, { session, query }) => {
      const thread = await threadOf(session, id!);
      // A GET changes nothing: the page's script reads the conversation by posting its
      // "Mark read" form (without script, the owner presses it). Not right after "Mark unread".
      const autoRead = thread.unread > 0 && query.get("notice") !== "unread";
      const frame = await withPeople(pm, await frameFor(session, query.get("notice")), thread.participants);
      return page(threadPage({ ...frame, ...live.confirmFrame(query, `c/${id}`) }, thread, "", autoRead));
    }) satisfies Handler,

    conversationStatus: (async (_request, { id }, { session }) => {
      const thread = await pm.thread(id!);
      if (!thread || thread.site !== session.site) return json({ error: "unknown_message", error_description: "No such conversation." }, 404);
      const messages = thread.items.flatMap((i) => (i.direction === "sent" ? [{ message: i.message, deliveries: i.deliveries }] : []));
      // Each delivery with the words its chip shows (pages/failures.ts), for app.js's live updater.
      const shown = messages.map((m) => ({ ...m, deliveries: m.deliveries.map((d) => ({ ...d, chip: chipState(d) })) }));
      return json({ pending: messages.some((m) => m.deliveries.some((d) => d.status === "pending")), messages: shown });
    }) satisfies Handler,

    composeForm: (async (_request, _params, { session, query }) => {
      const to = query.get("to") ?? "";
      return page(composePage(await withContacts(pm, await frameFor(session)), { to, subject: "", content: "", html: "", vouch: "", hide: false }));
    }) satisfies Handler,

    compose: (async (request, _params, { session }) => {
      const form = await forms.readChecked(request, session.csrf);
      const v: ComposeValues = {
        to: form.get("to") ?? "",
        subject: (form.get("subject") ?? "").trim(),
        content: form.get("content") ?? "",
        html: (form.get("html") ?? "").trim(),
        vouch: (form.get("vouch") ?? "").trim(),
        hide: form.get("hide") === "1",
      };
      // The form's one-time key (compose-keys.ts): posted twice, it sends once. Shown again with a refusal, it keeps its key.
      const key = form.get("key") || undefined;
      const refused = async (values: ComposeValues, error?: string) =>
        page(composePage({ ...(await frameFor(session)), ...(key ? { composeKey: key } : {}), ...(error ? { error } : {}) }, values), 400);
      try {
        // core owner/recipients.ts: site addresses only, and each one discovered before the message is accepted.
        const to = parseRecipientList(v.to, policy);
        if (v.content.trim() === "") return refused(v, "Write something to send.");
        const done = await sendOnce(
          pm,
          session.csrf,
          key ?? null,
          {
            from: session.site,
            to,
            content: v.content,
            ...(v.subject ? { subject: v.subject } : {}),
            ...(v.html ? { html: v.html } : {}),
            ...(v.vouch ? { vouch: v.vouch } : {}),
            ...(v.hide ? { hideRecipients: true } : {}),
          },
          { checkRecipients: true },
        );
        return redirect(path(`c/${conversationId(session.site, done.message)}`, sentNotice(done)));
      } catch (error) {
        if (error instanceof RecipientsRefusedError) {
          return refused({ ...v, toError: { messages: error.refusals.map((r) => r.text), detail: error.refusals.map((r) => r.detail).join(" ") } });
        }
        if (error instanceof TooManyRecipientsError) return refused({ ...v, toError: { messages: [error.message] } });
        if (error instanceof PmError && error.code === "invalid_request" && /^“/.test(error.message))
          return refused({ ...v, toError: { messages: [error.message] } });
        if (error instanceof PmError && error.code === "invalid_request" && /^Name at least one site/.test(error.message)) {
          return refused({ ...v, toError: { messages: [error.message] } });
        }
        if (error instanceof WebInboxError) return refused(v, error.message);
        if (error instanceof PmError && (error.code === "invalid_request" || error.code === "too_large")) return refused(v, sendRefusalSentence(error));
        throw error;
      }
    }) satisfies Handler,

    reply: (async (request, { id }, { session }) => {
      const form = await forms.readChecked(request, session.csrf);
      const thread = await threadOf(session, id!);
      const content = form.get("content") ?? "";
      const last = thread.items.at(-1);
      const key = form.get("key") || undefined;
      const keyFrame = key ? { composeKey: key } : {};
      if (!last || content.trim() === "")
        return page(threadPage({ ...(await frameFor(session)), ...keyFrame, error: "Write something to send." }, thread, content), 400);
      const reply = await sendReply(pm, session, key ?? null, last, thread.subject, content);
      if (reply.refused !== undefined) return page(threadPage({ ...(await frameFor(session)), ...keyFrame, error: reply.refused }, thread, content), 400);
      return redirect(path(`c/${id}`, sentNotice(reply.done)));
    }) satisfies Handler,

    markConversation: (async (request, { id }, { session }) => {
      const form = await forms.readChecked(request, session.csrf);
      await threadOf(session, id!);
      const read = form.get("read") !== "0";
      await pm.markRead({ conversation: id! }, read);
      return redirect(read ? path("", "read") : path(`c/${id}`, "unread"));
    }) satisfies Handler,

    deleteConversation: (async (request, { id }, { session }) => {
      await forms.readChecked(request, session.csrf);
      await threadOf(session, id!);
      await pm.deleteConversation(id!);
      return redirect(path("", "deleted"));
    }) satisfies Handler,

    markMessage: (async (request, _params, { session }) => {
      const found = await messageIn(request, session);
      if (found instanceof Response) return found;
      const { form, thread, item } = found;
      const read = form.get("read") !== "0";
      await pm.markRead({ sender: item.sender, message: item.message, site: session.site }, read);
      // Back to the page the form was on (its thread, or the person's page).
      return redirect(path(backPath(form.get("back"), `c/${thread.id}`), read ? "read" : "unread"));
    }) satisfies Handler,

    deleteMessage: (async (request, _params, { session }) => {
      const found = await messageIn(request, session);
      if (found instanceof Response) return found;
      const { form, thread, item } = found;
      await pm.deleteMessage(item.message, { site: session.site, sender: item.sender });
      // Back to the page the form was on while it shows anything still; else the inbox.
      const back = backPath(form.get("back"), `c/${thread.id}`);
      return redirect(path((await stillShown(back, session)) ? back : "", "deleted"));
    }) satisfies Handler,

    settings: (async (_request, _params, { session, query }) => {
      const [shown, settings, tokens, webhook, microsub] = await Promise.all([
        flash.take(session, query),
        pm.settings(session.site),
        pm.tokens({ site: session.site }),
        pm.webhookStatus(session.site),
        pm.microsub(session.site),
      ]);
      const frame = { ...(await frameFor(session, query.get("notice"))), ...live.confirmFrame(query, "settings") };
      // The lists name people (people.ts); a blocked site first, as kept: nothing of it is fetched.
      const blockedSites = settings.blocked.filter((e) => !e.startsWith(HOST_BLOCK_PREFIX));
      const blocked = await withPeople(pm, frame, blockedSites, { read: false });
      const named = await withPeople(pm, blocked, [...settings.contacts, ...settings.wroteTo, ...(settings.muted ?? []), ...tokens.map((t) => t.sender)]);
      return page(settingsPage(named, settings, tokens, { flash: shown, webhook, microsub }, profileUrl(inbox.url.href, pm.sites, session.site)));
    }) satisfies Handler,

    /** "Send a test": one POST to the webhook now (PmServer.testWebhook); what it answered comes back by the redirect. */
    testWebhook: settingsForm("webhook/test", "webhook", [], async (_form, session) => {
      const result = await pm.testWebhook(session.site);
      const extra = result.ok ? { ok: true, status: result.status, ms: result.ms } : { ok: false, error: result.error, detail: result.detail, ms: result.ms };
      return redirect(await flash.location(session, path("settings"), { form: "webhook/test", extra }));
    }),

    setPolicy: settingsForm("policy", "policy", [], async (form, session) => {
      const value = form.get("policy");
      if (value !== "anyone" && value !== "contacts" && value !== "nobody") throw new WebInboxError("invalid_policy", "Choose who may write to you.");
      await pm.updateSettings(session.site, { policy: value });
    }),
    addContact: settingsForm(
      "contacts/add",
      "site",
      ["site"],
      async (form, session) => void (await pm.updateSettings(session.site, { addContacts: [normalizeProfileUrl(form.get("site") ?? "", { dev: true })] })),
    ),
    removeContact: settingsForm(
      "contacts/remove",
      "site",
      [],
      async (form, session) => void (await pm.updateSettings(session.site, { removeContacts: [form.get("site") ?? ""] })),
    ),
    block: settingsForm(
      "blocked/add",
      "site",
      ["site", "scope"],
      async (form, session) => void (await pm.updateSettings(session.site, { block: [blockEntry(form.get("site") ?? "", form.get("scope") === "host")] })),
    ),
    unblock: settingsForm(
      "blocked/remove",
      "site",
      [],
      async (form, session) => void (await pm.updateSettings(session.site, { unblock: [form.get("site") ?? ""] })),
    ),
    setWebhook: settingsForm(
      "webhook",
      "webhook",
      ["webhook"],
      async (form, session) => {
        const webhook = (form.get("webhook") ?? "").trim() || null;
        await pm.updateSettings(session.site, { webhook });
        return redirect(path("settings", webhook ? "webhook-saved" : "saved"));
      },
      (error) => webhookSentence(error.message),
    ),
    revokeToken: settingsForm("tokens/revoke", "id", [], async (form, session) => {
      const id = form.get("id") ?? "";
      const mine = (await pm.tokens({ site: session.site })).some((t) => t.id === id);
      if (!mine || !(await pm.revokeToken(id))) throw new WebInboxError("unknown_token", "There is no such token.");
      return redirect(path("settings", "revoked"));
    }),
    deleteAll: settingsForm("delete-all", "confirm", [], async (form, session) => {
      if (form.get("confirm") !== "yes") throw new WebInboxError("not_confirmed", "Tick the box to confirm that everything is to be deleted.");
      await pm.deleteAll({ site: session.site });
      return redirect(path("", "deleted-all"));
    }),
    /** A settings form that does not exist: checked like the others, then 404. */
    unknownSetting: settingsForm("unknown", "", [], async (_form, session) =>
      page(messagePage(await frameFor(session), "Not found", "There is no such page here."), 404),
    ),
  };

  /** Whether the page at `back` (a thread, or a person's page) still has messages to show. */
  async function stillShown(back: string, session: Session): Promise<boolean> {
    const [, kind, id] = /^([cp])\/([A-Za-z0-9_-]+)/.exec(back) ?? [];
    if (kind === "c") return (await pm.thread(id!, { limit: 1 }))?.site === session.site;
    if (kind === "p") return ((await pm.chat(id!, { limit: 1 }).catch(() => null))?.items.length ?? 0) > 0;
    return true;
  }

  /** The message a read-mark or delete form names (§2: by sender and message ID; two senders may use the same ID). */
  async function messageIn(request: Request, session: Session) {
    const form = await forms.readChecked(request, session.csrf);
    const thread = await threadOf(session, form.get("conversation") ?? "");
    const item = thread.items.find((i) => i.message === form.get("message") && i.sender === form.get("sender"));
    if (!item) return page(messagePage(await frameFor(session), "Not found", "There is no such message in this conversation."), 404);
    return { form, thread, item };
  }

  return pages;
}
