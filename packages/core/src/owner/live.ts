/**
 * What the web inbox's live updates read (issue 12, "Live"): the messages received after a
 * cursor (`arrivals`: an open thread appends them, the banner and browser notifications
 * name them), and the muted correspondents a site keeps (`SettingsDoc.muted`): their
 * messages arrive and are listed as any other, but count for no unread badge, banner or
 * notification.
 */
import type { Arrival } from "../api.js";
import type { InboxDoc, SettingsDoc } from "../protocol/records.js";
import type { Store } from "../store/types.js";
import { decodeCursor, encodeCursor, type OwnerContext } from "./messages.js";

/** Arrivals one call answers at most; a client that falls further behind reloads. */
export const ARRIVALS_MAX = 50;
const SNIPPET_CHARS = 100;

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** The correspondents `site` muted (canonical site URLs). */
export async function mutedOf(store: Store, site: string): Promise<string[]> {
  return (await store.get<SettingsDoc>("settings", site))?.muted ?? [];
}

/** Unread received messages of muted correspondents, over `sites` (one count per muted site: the unread-by-site index). */
export async function mutedUnread(store: Store, sites: Iterable<string>): Promise<number> {
  let n = 0;
  for (const site of sites) {
    for (const sender of await mutedOf(store, site)) n += await store.count("inbox", { recipient: site, sender, read: null });
  }
  return n;
}

/** The cursor before every message: an inbox that has received nothing yet. */
const START = encodeCursor(`${"0".repeat(15)}.`);

/** The cursor after the latest message `site` (or any site) received: what `arrivals` starts from. */
export async function latestCursor(store: Store, site: string | undefined): Promise<string> {
  const [latest] = await store.find<InboxDoc>("inbox", {
    ...(site ? { where: { recipient: site } } : {}),
    range: { field: "pageKey", lt: "\uffff" },
    sort: { field: "pageKey", order: "desc" },
    limit: 1,
  });
  return latest?.pageKey === undefined ? START : encodeCursor(latest.pageKey);
}

function snippetOf(content: string): string {
  const text = content.replace(/\s+/g, " ").trim();
  if (text.length <= SNIPPET_CHARS) return text;
  const cut = text.slice(0, SNIPPET_CHARS - 1);
  // Whole words: cut at the last space when there is one in the second half.
  const space = cut.lastIndexOf(" ");
  return `${space > SNIPPET_CHARS / 2 ? cut.slice(0, space) : cut}…`;
}

/**
 * The messages `site` received after `after` (a cursor from `inboxStatus` or a previous
 * call), oldest first, at most `ARRIVALS_MAX`; `cursor` is where the next call starts
 * (`after` itself when nothing arrived). `more`: further ones wait.
 */
export async function arrivals(ctx: OwnerContext, site: string, after: string): Promise<{ items: Arrival[]; cursor: string; more: boolean }> {
  const from = decodeCursor(after);
  const docs = await ctx.store.find<InboxDoc>("inbox", {
    where: { recipient: site },
    range: { field: "pageKey", gt: from },
    sort: { field: "pageKey", order: "asc" },
    limit: ARRIVALS_MAX + 1,
  });
  const page = docs.slice(0, ARRIVALS_MAX);
  const muted = new Set(page.length > 0 ? await mutedOf(ctx.store, site) : []);
  const items = page.map(
    (d): Arrival => ({
      sender: d.sender,
      message: d.message,
      ...(d.conversation !== undefined ? { conversation: d.conversation } : {}),
      ...(d.chat !== undefined ? { chat: d.chat } : {}),
      receivedAt: iso(d.receivedAt),
      ...(d.name ? { subject: d.name } : {}),
      snippet: snippetOf(d.content),
      read: !!d.read,
      muted: muted.has(d.sender),
    }),
  );
  const last = page.at(-1)?.pageKey;
  return { items, cursor: last === undefined ? after : encodeCursor(last), more: docs.length > ARRIVALS_MAX };
}
