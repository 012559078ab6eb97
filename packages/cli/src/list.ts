/** What `inbox` and `outbox` share: `--site`, `--limit`, the owner options, and paging through the server's pages. */
import type { ListQuery, Page } from "@indiepm/core";
import { stringValue, usage, type ParsedValues } from "./args.js";
import { OWNER_OPTIONS, siteArgument } from "./owner.js";

export const LIST_OPTIONS = {
  ...OWNER_OPTIONS,
  site: { type: "string" },
  limit: { type: "string" },
} as const;

export function listQuery(command: string, values: ParsedValues): ListQuery {
  const query: ListQuery = {};
  const site = stringValue(values, "site");
  if (site !== undefined) query.site = siteArgument(command, "--site", site);
  const limit = stringValue(values, "limit");
  if (limit !== undefined) {
    if (!/^[1-9]\d{0,5}$/.test(limit)) throw usage(command, `--limit must be a whole number from 1 to 999999, got ${JSON.stringify(limit)}`);
    query.limit = Number(limit);
  }
  return query;
}

/** The most items the server answers per page (core's `LIST_MAX`). */
export const PAGE_SIZE = 1000;

/**
 * Every item of a list, newest first, following the server's `next` cursor page after
 * page until the last one — or until `query.limit` items, when `--limit` was given.
 */
export async function allPages<T>(query: ListQuery, fetchPage: (query: ListQuery) => Promise<Page<T>>): Promise<T[]> {
  const { limit, ...rest } = query;
  const items: T[] = [];
  let before: string | undefined;
  for (;;) {
    const wanted = limit === undefined ? PAGE_SIZE : Math.min(PAGE_SIZE, limit - items.length);
    const page = await fetchPage({ ...rest, limit: wanted, ...(before !== undefined ? { before } : {}) });
    items.push(...page.items);
    if (page.next === undefined || page.items.length === 0 || (limit !== undefined && items.length >= limit)) break;
    before = page.next;
  }
  return limit === undefined ? items : items.slice(0, limit);
}
