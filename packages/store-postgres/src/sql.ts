/**
 * The SQL of each `Store` call, over one table per collection: `_id text COLLATE "C"
 * PRIMARY KEY, doc jsonb` (the whole document, `_id` included).
 *
 * Semantics kept from the nedb adapter (core's store-contract.ts checks them):
 * - `where`: a field equals the value, with its type (`0` is neither `false` nor `"0"`;
 *   a scalar never matches inside an array); `null` matches a missing field too. Written
 *   `COALESCE(doc->'f', 'null') = $v`, one expression for both, which the indexes repeat.
 * - `range` compares only values of the bound's type (numbers with a number, strings with
 *   a string, by code point); any other bound matches nothing.
 * - `sort`: missing < null < numbers < strings < booleans < objects, as nedb's
 *   `compareThings`. A field is ordered by (`indiepm_rank`, `indiepm_num`,
 *   `indiepm_str` COLLATE "C"), three IMMUTABLE functions of the first migration; an
 *   index on those three answers both a range and a sort on the field (indexes.ts).
 *   Booleans and objects tie among themselves (nedb orders them further; the engine
 *   sorts only on numbers and strings).
 *
 * Field names are written into the SQL as quoted literals (an index must see the same
 * expression as the query); core's input checks have already refused `.` and `$`.
 */
import type { CollectionName, Query, Scalar } from "@indiepm/core";
import { encodeString, toJsonb } from "./encoding.js";
import type { IndexDefinition } from "./indexes.js";

/** `"name"`, quoted as an SQL identifier. */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** `'text'`, quoted as an SQL string literal (standard_conforming_strings, on since PostgreSQL 9.1). */
export function literal(text: string): string {
  return `'${encodeString(text).replaceAll("'", "''")}'`;
}

export class Sql {
  readonly schema: string;
  constructor(schema: string) {
    this.schema = ident(schema);
  }

  table(collection: CollectionName): string {
    return `${this.schema}.${ident(collection)}`;
  }

  /** The value of field `f` for equality (missing reads as JSON null). */
  eq(field: string): string {
    return `COALESCE(doc->${literal(field)}, 'null'::jsonb)`;
  }

  /** The three ordering keys of field `f`. */
  order(field: string): [rank: string, num: string, str: string] {
    const value = `doc->${literal(field)}`;
    return [`${this.schema}.indiepm_rank(${value})`, `${this.schema}.indiepm_num(${value})`, `${this.schema}.indiepm_str(${value}) COLLATE "C"`];
  }

  indexStatement(index: IndexDefinition): string {
    const keys = [...index.eq.map((field) => `(${this.eq(field)})`), ...(index.order === undefined ? [] : this.order(index.order).map((key) => `(${key})`))];
    const partial = Object.entries(index.partial ?? {}).map(([field, value]) => `${this.eq(field)} = ${literal(toJsonb(value))}::jsonb`);
    const where = partial.length === 0 ? "" : ` WHERE ${partial.join(" AND ")}`;
    return `CREATE INDEX IF NOT EXISTS ${ident(indexName(index))} ON ${this.table(index.collection)} (${keys.join(", ")})${where}`;
  }
}

/** A stable name from the definition (PostgreSQL names are at most 63 bytes). */
export function indexName(index: IndexDefinition): string {
  const parts = [...index.eq, ...(index.order === undefined ? [] : [`by_${index.order}`]), ...Object.keys(index.partial ?? {}).map((field) => `if_${field}`)];
  const name = `${index.collection}_${parts.join("_")}`.replace(/[^A-Za-z0-9_]/g, "_");
  return name.length <= 60 ? name : name.slice(0, 60);
}

/** A WHERE clause builder collecting its parameters. */
export class Conditions {
  readonly parts: string[] = [];
  readonly params: unknown[];
  readonly #sql: Sql;

  constructor(sql: Sql, params: unknown[] = []) {
    this.#sql = sql;
    this.params = params;
  }

  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  where(where: Record<string, Scalar> | undefined): this {
    for (const [field, value] of Object.entries(where ?? {})) {
      if (field === "_id") this.parts.push(typeof value === "string" ? `_id = ${this.param(encodeString(value))}` : "false");
      else this.parts.push(`${this.#sql.eq(field)} = ${this.param(toJsonb(value))}::jsonb`);
    }
    return this;
  }

  range(range: Query["range"]): this {
    if (range === undefined) return this;
    const bounds = (["gt", "gte", "lt", "lte"] as const).filter((b) => range[b] !== undefined);
    const op = { gt: ">", gte: ">=", lt: "<", lte: "<=" } as const;
    for (const bound of bounds) {
      const value = range[bound];
      if (range.field === "_id") {
        this.parts.push(typeof value === "string" ? `_id ${op[bound]} ${this.param(encodeString(value))}` : "false");
        continue;
      }
      const [rank, num, str] = this.#sql.order(range.field);
      if (typeof value === "number") this.parts.push(`${rank} = 2`, `${num} ${op[bound]} ${this.param(value)}::float8`);
      else if (typeof value === "string") this.parts.push(`${rank} = 3`, `${num} IS NULL`, `${str} ${op[bound]} ${this.param(encodeString(value))}::text`);
      else this.parts.push("false");
    }
    return this;
  }

  clause(): string {
    return this.parts.length === 0 ? "" : ` WHERE ${[...new Set(this.parts)].join(" AND ")}`;
  }
}

export function orderBy(sql: Sql, sort: Query["sort"]): string {
  if (sort === undefined) return "";
  const direction = sort.order === "asc" ? "ASC" : "DESC";
  if (sort.field === "_id") return ` ORDER BY _id ${direction}`;
  return ` ORDER BY ${sql
    .order(sort.field)
    .map((key) => `${key} ${direction}`)
    .join(", ")}`;
}

export interface Statement {
  text: string;
  params: unknown[];
}

/** The SELECT of `find` (also what test/explain.test.ts explains). */
export function findStatement(sql: Sql, collection: CollectionName, query: Query): Statement {
  const conditions = new Conditions(sql).where(query.where).range(query.range);
  const limit = query.limit === undefined ? "" : ` LIMIT ${conditions.param(query.limit)}`;
  return { text: `SELECT doc::text AS doc FROM ${sql.table(collection)}${conditions.clause()}${orderBy(sql, query.sort)}${limit}`, params: conditions.params };
}

/** The SELECT of `count`. */
export function countStatement(sql: Sql, collection: CollectionName, where: Record<string, Scalar> | undefined): Statement {
  const conditions = new Conditions(sql).where(where);
  return { text: `SELECT count(*)::int AS n FROM ${sql.table(collection)}${conditions.clause()}`, params: conditions.params };
}
