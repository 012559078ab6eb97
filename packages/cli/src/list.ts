/** What `inbox` and `outbox` share: `--site`, `--limit` and the owner options. */
import type { ListQuery } from "@indiepm/core";
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
