/** The owner's data as one JSON document, and deleting all of it. */
import type { ExportDocument, SitePolicy } from "../api.js";
import { PmError } from "../errors.js";
import { siteSettings } from "../settings.js";
import type { ConversationDoc, DeliveryDoc, InboxDoc, OutboxDoc, WebhookDoc } from "../protocol/records.js";
import { canonicalUrl } from "../urls.js";
import { receivedView, sentView, type OwnerContext } from "./messages.js";

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

function sitesOf(ctx: OwnerContext, site: string | undefined): string[] {
  if (site === undefined) return [...ctx.sites];
  if (!URL.canParse(site)) throw new PmError("invalid_request", "site is not a URL.");
  const canonical = canonicalUrl(site);
  if (!ctx.sites.has(canonical)) throw new PmError("invalid_request", `This server holds no site ${canonical}.`);
  return [canonical];
}

/** Every received and sent message of the sites (all, or one), newest first, with their settings. */
export async function exportAll(ctx: OwnerContext, policies: Record<string, SitePolicy>, query: { site?: string } = {}): Promise<ExportDocument> {
  const sites = sitesOf(ctx, query.site);
  const doc: ExportDocument = { exportedAt: iso(ctx.now()), endpoint: ctx.endpoint, sites, inbox: [], outbox: [], settings: [] };
  for (const site of sites) {
    const received = await ctx.store.find<InboxDoc>("inbox", { where: { recipient: site }, sort: { field: "receivedAt", order: "desc" } });
    doc.inbox.push(...received.map(receivedView));
    const sent = await ctx.store.find<OutboxDoc>("outbox", { where: { sender: site }, sort: { field: "createdAt", order: "desc" } });
    for (const o of sent) doc.outbox.push(sentView(o, await ctx.store.find<DeliveryDoc>("deliveries", { where: { sender: site, message: o.message } })));
    doc.settings.push(await siteSettings(ctx.store, policies, site));
  }
  return doc;
}

/**
 * Deletes every message of the sites: inbox, outbox, their deliveries (pending ones stop),
 * queued webhooks and the conversations' summaries. Settings and tokens stay. Then the store is compacted, so nothing
 * of the deleted messages is left in its files (nedb appends; see store/nedb/adapter.ts).
 */
export async function deleteAll(ctx: OwnerContext, query: { site?: string } = {}): Promise<number> {
  let n = 0;
  for (const site of sitesOf(ctx, query.site)) {
    for (const m of await ctx.store.find<InboxDoc>("inbox", { where: { recipient: site } })) if (await ctx.store.remove("inbox", m._id)) n++;
    for (const d of await ctx.store.find<DeliveryDoc>("deliveries", { where: { sender: site } })) await ctx.store.remove("deliveries", d._id);
    for (const o of await ctx.store.find<OutboxDoc>("outbox", { where: { sender: site } })) if (await ctx.store.remove("outbox", o._id)) n++;
    for (const w of await ctx.store.find<WebhookDoc>("webhooks", { where: { site } })) await ctx.store.remove("webhooks", w._id);
    for (const c of await ctx.store.find<ConversationDoc>("conversations", { where: { site } })) await ctx.store.remove("conversations", c._id);
    for (const c of await ctx.store.find<{ _id: string }>("chats", { where: { site } })) await ctx.store.remove("chats", c._id);
  }
  await ctx.store.compact?.();
  return n;
}
