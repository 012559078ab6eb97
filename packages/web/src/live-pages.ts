/**
 * Issue 12 "Live": what the inbox's script reads as messages arrive, and muting or
 * blocking a correspondent from their conversation. Rows of the route table in inbox.ts:
 * - `status.json?after=CURSOR` adds the messages received since (`arrivals`) to the status;
 * - `GET c/:id/live` answers the latest messages of a conversation as an HTML fragment,
 *   rendered and sanitized here as the thread page renders them (app.js appends the new
 *   ones; it never builds HTML itself);
 * - `POST people/mute` and `people/block` (`site`, `on` 1|0, `back`: the page to return to)
 *   change the settings and redirect back with a confirmation and its Undo (pages/live.ts).
 */
import { PmError } from "@indiepm/core";
import type { Forms } from "./forms.js";
import type { ResolvedInboxOptions } from "./options.js";
import { liveFragment, messagePage, type Frame } from "./pages.js";
import { personView, withPeople } from "./people.js";
import { liveChatFragment, peopleConfirmationOf, safeBack } from "./pages/live.js";
import { HttpAnswer, json, page, redirect } from "./responses.js";
import type { Session } from "./sign-in.js";

/** How many of a conversation's latest messages the live fragment holds; more arrived at once: the page is reloaded. */
export const LIVE_ITEMS = 20;

type OwnerRequest = { session: Session; query: URLSearchParams };

/** The confirmation a page shows after a mute or block form (`?notice=muted&who=SITE`); `back`: this page, for its Undo. */
export function confirmFrame(query: URLSearchParams, back: string): Pick<Frame, "confirm"> {
  const c = peopleConfirmationOf(query);
  return c ? { confirm: { ...c, back } } : {};
}
type Handler = (request: Request, params: Record<string, string>, owner: OwnerRequest) => Promise<Response>;

export function createLivePages(inbox: ResolvedInboxOptions, forms: Forms, frameFor: (session: Session, notice?: string | null) => Promise<Frame>) {
  const { pm, base } = inbox;

  const refused = (title: string, text: string, status: number) =>
    new HttpAnswer(page(messagePage({ base }, title, text, { href: base, label: "Back to the inbox" }), status));

  /** A mute or block form: reads `site`, `on` and `back`, applies `change`, redirects back with the confirmation. */
  function personForm(change: (site: string, on: boolean, session: Session) => Promise<unknown>, done: [on: string, off: string]): Handler {
    return async (request, _params, { session }) => {
      const form = await forms.readChecked(request, session.csrf);
      const site = (form.get("site") ?? "").trim();
      const on = form.get("on") !== "0";
      const back = safeBack(form.get("back"));
      if (!URL.canParse(site) || site === session.site) throw refused("Not a correspondent", "That form names no site you can mute or block.", 400);
      try {
        await change(site, on, session);
      } catch (error) {
        if (error instanceof PmError && error.code === "invalid_request")
          throw refused("Not a correspondent", "That form names no site you can mute or block.", 400);
        throw error;
      }
      const notice = `notice=${on ? done[0] : done[1]}&who=${encodeURIComponent(site)}`;
      return redirect(`${base}${back}${back.includes("?") ? "&" : "?"}${notice}`);
    };
  }

  return {
    /** What status.json adds for `?after=CURSOR`: the arrivals since, each with a label and a link, and the next cursor. */
    async arrivalsFor(session: Session, query: URLSearchParams): Promise<Record<string, unknown>> {
      const after = query.get("after");
      if (!after) return {};
      try {
        const { items, cursor, more } = await pm.arrivals({ site: session.site, after });
        // The banner and the notification name people, as the pages do (people.ts); a poll
        // reads only what is kept: it never makes the server fetch a correspondent's page.
        const frame = await withPeople(
          pm,
          { base, site: session.site },
          items.map((a) => a.sender),
          { read: false },
        );
        return {
          cursor,
          more,
          arrivals: items.map((a) => ({ ...a, label: personView(frame, a.sender).label, href: a.conversation ? `${base}c/${a.conversation}` : base })),
        };
      } catch (error) {
        if (error instanceof PmError && error.code === "invalid_request") {
          throw new HttpAnswer(json({ error: "invalid_request", error_description: "after is not a cursor this inbox gave." }, 400));
        }
        throw error;
      }
    },

    confirmFrame,

    liveItems: (async (_request, { id }, { session }) => {
      const thread = await pm.thread(id!, { limit: LIVE_ITEMS });
      if (!thread || thread.site !== session.site) return page(messagePage({ base }, "Not found", "There is no such conversation in your inbox."), 404);
      return page(liveFragment(await frameFor(session), thread));
    }) satisfies Handler,

    /** `GET p/:id/live`: the latest messages with a person, as the person page shows them (pages/by-person.ts). */
    liveChatItems: (async (_request, { id }, { session }) => {
      const chat = await pm.chat(id!, { limit: LIVE_ITEMS }).catch(() => null);
      if (!chat || chat.site !== session.site) return page(messagePage({ base }, "Not found", "There is no such conversation in your inbox."), 404);
      return page(liveChatFragment(await frameFor(session), chat));
    }) satisfies Handler,

    mute: personForm((site, on, session) => pm.updateSettings(session.site, on ? { mute: [site] } : { unmute: [site] }), ["muted", "unmuted"]),
    block: personForm((site, on, session) => pm.updateSettings(session.site, on ? { block: [site] } : { unblock: [site] }), ["blocked", "unblocked"]),
  };
}
