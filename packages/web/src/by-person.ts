/**
 * Conversations by person (issue 12): the inbox's default list (`GET /`: chats, core
 * owner/chats.ts; with `?q=` the search, with `?view=threads` the threads) and the person
 * page (`/p/:id`): its messages, its read mark, its reply, and the JSON app.js polls for
 * the delivery status of what was sent there. Rows of the route table in inbox.ts.
 */
import { PmError, type ChatThread } from "@indiepm/core";
import { sendReply, sentNotice } from "./compose-keys.js";
import type { Forms } from "./forms.js";
import type { OwnerRequest } from "./owner-pages.js";
import type { ResolvedInboxOptions } from "./options.js";
import { messagePage, type Frame } from "./pages.js";
import { chatsPage, personPage } from "./pages/by-person.js";
import { confirmFrame } from "./live-pages.js";
import { withPeople } from "./people.js";
import { HttpAnswer, json, page, redirect } from "./responses.js";
import type { Session } from "./sign-in.js";
import { chipState } from "./pages/failures.js";

type Handler = (request: Request, params: Record<string, string>, owner: OwnerRequest) => Promise<Response>;

export function createByPersonPages(
  inbox: ResolvedInboxOptions,
  forms: Forms,
  owner: { conversations: Handler; frameFor(session: Session, notice?: string | null): Promise<Frame> },
) {
  const { pm, base } = inbox;
  const { frameFor } = owner;

  async function chatOf(session: Session, id: string, before?: string): Promise<ChatThread> {
    let chat: ChatThread | null = null;
    try {
      chat = await pm.chat(id, before ? { before } : {});
    } catch (error) {
      if (!(error instanceof PmError && error.code === "invalid_request")) throw error;
    }
    if (!chat || chat.site !== session.site) {
      throw new HttpAnswer(
        page(
          messagePage(await frameFor(session), "Not found", "There is no such conversation in your inbox.", { href: base, label: "Back to the inbox" }),
          404,
        ),
      );
    }
    return chat;
  }

  return {
    /** `GET /`: by person, unless a search or the threads are asked for. */
    home: (async (request, params, ownerRequest) => {
      const { session, query } = ownerRequest;
      if ((query.get("q") ?? "").trim() !== "" || query.get("view") === "threads") return owner.conversations(request, params, ownerRequest);
      const before = query.get("before") ?? undefined;
      let result;
      try {
        result = await pm.chatsPage({ site: session.site, ...(before ? { before } : {}) });
      } catch (error) {
        if (!(error instanceof PmError && error.code === "invalid_request")) throw error;
        return redirect(base);
      }
      const people = result.items.flatMap((c) => c.people);
      const frame = await withPeople(pm, await frameFor(session, query.get("notice")), people);
      return page(chatsPage(frame, { chats: result.items, now: Date.now(), ...(result.next ? { next: result.next } : {}) }));
    }) satisfies Handler,

    /** `GET /p/:id`: the latest 100 messages with them (`?before=`: earlier ones). The GET changes nothing: app.js posts "Mark read". */
    person: (async (_request, { id }, { session, query }) => {
      const before = query.get("before") ?? undefined;
      const chat = await chatOf(session, id!, before);
      const frame = { ...(await withPeople(pm, await frameFor(session, query.get("notice")), chat.people)), ...confirmFrame(query, `p/${id}`) };
      return page(personPage(frame, chat, { autoRead: query.get("notice") !== "unread", ...(before ? { before } : {}) }));
    }) satisfies Handler,

    /** `GET /p/:id/status.json`: the delivery status of the page's sent messages (app.js, as for a thread). */
    personStatus: (async (_request, { id }, { session }) => {
      const chat = await pm.chat(id!).catch(() => null);
      if (!chat || chat.site !== session.site) return json({ error: "unknown_message", error_description: "No such conversation." }, 404);
      // Each delivery with the words its chip shows (pages/failures.ts), as a thread's status.json has them.
      const messages = chat.items.flatMap((i) =>
        i.direction === "sent" ? [{ message: i.message, deliveries: i.deliveries.map((d) => ({ ...d, chip: chipState(d) })) }] : [],
      );
      return json({ pending: messages.some((m) => m.deliveries.some((d) => d.status === "pending")), messages });
    }) satisfies Handler,

    /** `POST /p/:id/reply`: answers the chat's latest message, to that message's people (§5: computed here, never from the form). */
    reply: (async (request, { id }, { session }) => {
      const form = await forms.readChecked(request, session.csrf);
      const chat = await chatOf(session, id!);
      const content = form.get("content") ?? "";
      const last = chat.items.at(-1);
      // The form's one-time key (compose-keys.ts): posted twice, it sends once.
      const key = form.get("key") || undefined;
      const keyFrame = key ? { composeKey: key } : {};
      if (!last || content.trim() === "")
        return page(personPage({ ...(await frameFor(session)), ...keyFrame, error: "Write something to send." }, chat, { draft: content }), 400);
      const reply = await sendReply(pm, session, key ?? null, last, last.name, content);
      if (reply.refused !== undefined)
        return page(personPage({ ...(await frameFor(session)), ...keyFrame, error: reply.refused }, chat, { draft: content }), 400);
      return redirect(`${base}p/${id}?notice=${sentNotice(reply.done)}#latest`);
    }) satisfies Handler,

    /** `POST /p/:id/read`: every received message of the chat read (or unread, `read=0`). */
    markRead: (async (request, { id }, { session }) => {
      const form = await forms.readChecked(request, session.csrf);
      await chatOf(session, id!);
      const read = form.get("read") !== "0";
      await pm.markChatRead(id!, read);
      return redirect(read ? `${base}?notice=read` : `${base}p/${id}?notice=unread`);
    }) satisfies Handler,
  };
}
