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
import type { CollectionName, Doc, DocKey, GivenDoc, Query, Scalar, Write } from "@indiepm/core";
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

/**
 * The new value of `doc` after `patch` (`update`'s SET): the fields of `unset` removed,
 * then those of `set` merged in; its parameters added to `conditions`.
 */
export function patched(conditions: Conditions, patch: { set?: object; unset?: readonly string[] }): string {
  const unset = (patch.unset ?? []).map(encodeString);
  const set = patch.set ?? {};
  let change = "doc";
  if (unset.length > 0) change = `(${change} - ${conditions.param(unset)}::text[])`;
  if (Object.keys(set).length > 0) change = `${change} || ${conditions.param(toJsonb(set))}::jsonb`;
  return change;
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

/**
 * `Store.getEach` as one statement: a primary-key lookup per (collection, `_id`), joined by
 * UNION ALL, each row tagged with its place in the list (`i`). One statement, one snapshot.
 */
export function getEachStatement(sql: Sql, keys: readonly DocKey[]): Statement {
  const params = keys.map(([, id]) => encodeString(id));
  const text = keys.map(([collection], i) => `SELECT ${i} AS i, doc::text AS doc FROM ${sql.table(collection)} WHERE _id = $${i + 1}`).join(" UNION ALL ");
  return { text, params };
}

/**
 * `Store.writeAfter` as one statement: each write a data-modifying CTE (`w0` the first),
 * and every write after the first made only when `w0` wrote its row (`EXISTS (SELECT 1
 * FROM w0)`). An insert whose `_id` is taken does nothing (`ON CONFLICT (_id) DO NOTHING`,
 * which waits for an insert of the same `_id` under way, as a plain INSERT does); an update
 * whose `_id` or `expect` does not match changes no row (a compare-and-set as `update`'s:
 * a row changed meanwhile is checked again as it now is). One statement is one
 * transaction: what it wrote is kept together or not at all. Its one row counts the rows
 * each CTE wrote (`w0`, `w1`, …: 0 or 1).
 *
 * With `given` (`Store.writeIfUnchanged`), a first CTE `g` says whether each given
 * document is stored as given (`doc = …::jsonb`, by primary key; `null`: no row), the
 * first write is made only when it does, and the row says so in `given`.
 */
export function writeAfterStatement(sql: Sql, writes: readonly Write[], given?: readonly GivenDoc[]): Statement {
  const params: unknown[] = [];
  const ctes = writes.map((write, i) => {
    const gate = i === 0 ? "(SELECT ok FROM g)" : "EXISTS (SELECT 1 FROM w0)";
    const conditions = new Conditions(sql, params);
    if ("merge" in write) {
      // Inserted, or merged into the stored row (`cur`) under its row lock: no read before, so no writer is refused.
      const { _id, ...fields } = write.doc as Doc & Record<string, unknown>;
      const set: Record<string, unknown> = { ...fields };
      for (const field of Object.keys(write.add)) delete set[field];
      const values = `${conditions.param(encodeString(_id))}::text, ${conditions.param(toJsonb(write.doc))}::jsonb`;
      const rows = i === 0 && !given ? `VALUES (${values})` : `SELECT ${values} WHERE ${gate}`;
      const stored = `cur.doc->${literal(write.newer)}`;
      const newer = `(${stored} IS NULL OR jsonb_typeof(${stored}) <> 'string' OR (cur.doc->>${literal(write.newer)}) COLLATE "C" < ${conditions.param(encodeString(String(fields[write.newer])))}::text COLLATE "C")`;
      const sums = Object.entries(write.add).map(
        ([field, n]) =>
          `${literal(field)}::text, COALESCE(CASE WHEN jsonb_typeof(cur.doc->${literal(field)}) = 'number' THEN (cur.doc->>${literal(field)})::numeric END, 0) + ${conditions.param(n)}::numeric`,
      );
      const merged = `(CASE WHEN ${newer} THEN cur.doc || ${conditions.param(toJsonb(set))}::jsonb ELSE cur.doc END)${sums.length > 0 ? ` || jsonb_build_object(${sums.join(", ")})` : ""}`;
      return `w${i} AS (INSERT INTO ${sql.table(write.merge)} AS cur (_id, doc) ${rows} ON CONFLICT (_id) DO UPDATE SET doc = ${merged} RETURNING 1)`;
    }
    if ("insert" in write) {
      const values = `${conditions.param(encodeString(write.doc._id))}::text, ${conditions.param(toJsonb(write.doc))}::jsonb`;
      const rows = i === 0 && !given ? `VALUES (${values})` : `SELECT ${values} WHERE ${gate}`;
      return `w${i} AS (INSERT INTO ${sql.table(write.insert)} (_id, doc) ${rows} ON CONFLICT (_id) DO NOTHING RETURNING 1)`;
    }
    conditions.parts.push(`_id = ${conditions.param(encodeString(write.id))}`);
    conditions.where(write.expect);
    const change = patched(conditions, write.patch);
    if (i > 0 || given) conditions.parts.push(gate);
    return `w${i} AS (UPDATE ${sql.table(write.update)} SET doc = ${change}${conditions.clause()} RETURNING 1)`;
  });
  const counts = writes.map((_, i) => `(SELECT count(*) FROM w${i})::int AS w${i}`).join(", ");
  if (!given) return { text: `WITH ${ctes.join(", ")} SELECT ${counts}`, params };
  // `g`: whether each given document is stored as given (by its primary key), in the writes' snapshot.
  const values = new Conditions(sql, params);
  const checks = given.map(([collection, id, doc]) => {
    const key = `_id = ${values.param(encodeString(id))}::text`;
    return doc === null
      ? `NOT EXISTS (SELECT 1 FROM ${sql.table(collection)} WHERE ${key})`
      : `EXISTS (SELECT 1 FROM ${sql.table(collection)} WHERE ${key} AND doc = ${values.param(toJsonb(doc))}::jsonb)`;
  });
  const ok = checks.length === 0 ? "true" : checks.join(" AND ");
  return { text: `WITH g AS (SELECT ${ok} AS ok), ${ctes.join(", ")} SELECT (SELECT ok FROM g) AS given, ${counts}`, params };
}
