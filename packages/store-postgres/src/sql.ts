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
import { encodeString, givenJsonb, toJsonb } from "./encoding.js";
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

/** A merge of `Store.writeAfter` (core's store/types.ts `Write`). */
type Merge = Extract<Write, { merge: CollectionName }>;

/** One call of `Store.writeAfter` (no `given`) or `Store.writeIfUnchanged`, as a batch holds it. */
export interface WriteCall {
  readonly writes: readonly Write[];
  readonly given?: readonly GivenDoc[] | undefined;
}

/** Where a call's answer is in the statement's one row: `given` (with `given`) and a column per write (0 or 1). */
export interface WriteColumns {
  readonly given?: string;
  readonly writes: readonly string[];
}

export interface WriteStatement extends Statement {
  /** One per call, in the order given. */
  readonly columns: readonly WriteColumns[];
}

/** The row a write makes or changes: its collection and `_id`. */
export function writeKey(write: Write): string {
  if ("merge" in write) return `${write.merge}\u0000${write.doc._id}`;
  if ("insert" in write) return `${write.insert}\u0000${write.doc._id}`;
  return `${write.update}\u0000${write.id}`;
}

/**
 * Whether `call` can join the calls of `keys` (what `batchKeys` noted of them) in one
 * statement: no row of it is written by one of them, except a merge into a row they only
 * merge into, by the same `newer` (those are made as one merge, `writeStatement`). A
 * statement may change a row once: two inserts or updates of one row in it would not see
 * each other.
 */
export function joinsBatch(keys: ReadonlyMap<string, string | null>, call: WriteCall): boolean {
  return call.writes.every((write) => {
    const seen = keys.get(writeKey(write));
    return seen === undefined || ("merge" in write && seen === write.newer);
  });
}

/** Notes the rows of `call` in `keys` (a merge by its `newer`, any other write `null`). */
export function batchKeys(keys: Map<string, string | null>, call: WriteCall): void {
  for (const write of call.writes) keys.set(writeKey(write), "merge" in write ? write.newer : null);
}

/**
 * Calls of `Store.writeAfter` and `Store.writeIfUnchanged` as one statement, so one
 * transaction: what it wrote is kept together or not at all. Each call's writes are
 * data-modifying CTEs (`w<call>_<write>`; call 0's first is `w0_0`), every write after a
 * call's first made only when its first wrote its row (`EXISTS (SELECT 1 FROM w…_0)`).
 * An insert whose `_id` is taken does nothing (`ON CONFLICT (_id) DO NOTHING`, which waits
 * for an insert of the same `_id` under way, as a plain INSERT does); an update whose
 * `_id` or `expect` does not match changes no row (a compare-and-set as `update`'s: a row
 * changed meanwhile is checked again as it now is). The one row counts the rows each
 * write made (0 or 1), named in `columns`.
 *
 * With `given` (`Store.writeIfUnchanged`), a CTE `g<call>` says whether each given
 * document is stored as given (`doc = …::jsonb`, by primary key; `null`: no row), the
 * call's first write is made only when it is, and the row says so.
 *
 * The calls write different rows (`joinsBatch`), except merges into one row (the chat of
 * one correspondent, by many deliveries at once): those are one merge (`mergeAll`), the
 * same as making the merges of the calls whose first write was made one after another,
 * by ascending `newer`.
 *
 * Built afresh each time; `WriteStatements` keeps the text of each shape of batch.
 */
export function writeStatement(sql: Sql, calls: readonly WriteCall[]): WriteStatement {
  return buildWrites(sql, calls, mergeGroups(calls)).statement;
}

/**
 * `writeStatement`, its text (and `columns`) kept per shape of batch: what the text is
 * made of (each call's given collections and which are `null`, each write's kind,
 * collection, `add` and `newer` fields, which merges into one row go together), not the
 * documents and `_id`s, which are parameters. A batch of a shape seen only reads its
 * parameters (`Template.gets`); the text is the one its first batch was built with, the
 * same a fresh build makes. At most `MAX_SHAPES` are kept, the least recently used going
 * first (which deliveries land together is up to those who send them). Batches with an
 * update, or one write object twice, are built afresh each time.
 */
export class WriteStatements {
  static readonly MAX_SHAPES = 256;
  readonly #sql: Sql;
  readonly #shapes = new Map<string, Template>();

  constructor(sql: Sql) {
    this.#sql = sql;
  }

  statement(calls: readonly WriteCall[]): WriteStatement {
    const merges = mergeGroups(calls);
    const key = merges.groupOf === undefined ? undefined : shapeKey(calls, merges.groupOf);
    if (key === undefined) return buildWrites(this.#sql, calls, merges).statement;
    const template = this.#shapes.get(key);
    if (template !== undefined) {
      this.#shapes.delete(key);
      this.#shapes.set(key, template);
      const batch: Batch = { calls, groups: merges.groups };
      const params = new Array<unknown>(template.gets.length);
      for (let n = 0; n < params.length; n++) params[n] = template.gets[n]!(batch);
      return { text: template.text, params, columns: template.columns };
    }
    const built = buildWrites(this.#sql, calls, merges);
    if (built.gets.length !== built.statement.params.length) return built.statement;
    if (this.#shapes.size >= WriteStatements.MAX_SHAPES) this.#shapes.delete(this.#shapes.keys().next().value!);
    this.#shapes.set(key, { text: built.statement.text, columns: built.statement.columns, gets: built.gets });
    return built.statement;
  }

  /** Shapes kept (tests). */
  get size(): number {
    return this.#shapes.size;
  }
}

/** What a batch's parameters are read from: its calls, and its merges into one row by more than one call (`mergeGroups`). */
interface Batch {
  readonly calls: readonly WriteCall[];
  readonly groups: readonly (readonly Merge[])[];
}

/** How one parameter is read from a batch. */
type Get = (batch: Batch) => unknown;

/** A shape's statement: its text and columns, and how each parameter is read from a batch of that shape. */
interface Template {
  readonly text: string;
  readonly columns: readonly WriteColumns[];
  readonly gets: readonly Get[];
}

/** The parameters of a statement as it is built: each value, and how it is read from a batch of the same shape. */
class Params {
  readonly values: unknown[] = [];
  readonly gets: Get[] = [];
  readonly #batch: Batch;

  constructor(batch: Batch) {
    this.#batch = batch;
  }

  /** `$n` of the value `get` reads from the batch. */
  add(get: Get): string {
    this.gets.push(get);
    this.values.push(get(this.#batch));
    return `$${this.values.length}`;
  }
}

interface MergeGroups {
  /** Merges into one row by more than one call, in the order of the calls and their writes; by row (`writeKey`), ascending. */
  readonly groups: readonly (readonly Merge[])[];
  /** The group of each merge in one; `undefined` when a write object is in the batch twice. */
  readonly groupOf: ReadonlyMap<Write, number> | undefined;
}

function mergeGroups(calls: readonly WriteCall[]): MergeGroups {
  let byRow: Map<string, Merge[]> | undefined;
  let merges = 0;
  for (const call of calls)
    for (const write of call.writes) {
      if (!("merge" in write)) continue;
      merges++;
      byRow ??= new Map();
      const key = writeKey(write);
      const list = byRow.get(key);
      if (list === undefined) byRow.set(key, [write]);
      else list.push(write);
    }
  const groupOf = new Map<Write, number>();
  if (byRow === undefined || byRow.size === merges) return { groups: [], groupOf };
  const groups = [...byRow.entries()]
    .filter(([, list]) => list.length >= 2)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, list]) => list);
  for (const [g, list] of groups.entries())
    for (const write of list) {
      if (groupOf.has(write)) return { groups, groupOf: undefined };
      groupOf.set(write, g);
    }
  return { groups, groupOf };
}

/** `s` in a shape key: its length, `:`, itself (so no two sequences of names read alike). */
const name = (s: string) => `${s.length}:${s}`;

/**
 * Everything of `calls` the text of their statement is made of, as a string (`undefined`
 * with an update: those are not kept). Each part starts with a letter saying what it is,
 * counts end with `,`, names are `name`s: two batches have the same key only if they have
 * the same shape.
 */
function shapeKey(calls: readonly WriteCall[], groupOf: ReadonlyMap<Write, number>): string | undefined {
  let key = "";
  for (const { writes, given } of calls) {
    if (given) {
      key += `g${given.length},`;
      for (const [collection, , doc] of given) key += `${name(collection)}${doc === null ? "0" : "1"}`;
    } else key += "n";
    key += `w${writes.length},`;
    for (const write of writes) {
      if ("insert" in write) key += `i${name(write.insert)}`;
      else if ("merge" in write) {
        const g = groupOf.get(write);
        key += `${g === undefined ? "m" : `t${g},`}${name(write.merge)}${name(write.newer)}`;
        const fields = Object.keys(write.add);
        key += `a${fields.length},`;
        for (const field of fields) key += name(field);
      } else return undefined;
    }
  }
  return key;
}

interface Built {
  readonly statement: WriteStatement;
  readonly gets: readonly Get[];
}

function buildWrites(sql: Sql, calls: readonly WriteCall[], merges: MergeGroups): Built {
  const params = new Params({ calls, groups: merges.groups });
  const p = (get: Get) => params.add(get);
  const ctes: string[] = [];
  const selects: string[] = [];
  const columns: WriteColumns[] = [];
  // Merges into one row by more than one call: made after every call's first write, together.
  const together = merges.groups.map((list) => list.map((write) => ({ write, gate: "" })));
  const groupOf = new Map<Write, number>();
  for (const [g, list] of merges.groups.entries()) for (const write of list) groupOf.set(write, g);

  for (const [j, { writes, given }] of calls.entries()) {
    if (given) {
      // `g`: whether each given document is stored as given (by its primary key), in the writes' snapshot.
      const checks = given.map(([collection, , doc], k) => {
        const key = `_id = ${p((b) => encodeString(b.calls[j]!.given![k]![1]))}::text`;
        return doc === null
          ? `NOT EXISTS (SELECT 1 FROM ${sql.table(collection)} WHERE ${key})`
          : `EXISTS (SELECT 1 FROM ${sql.table(collection)} WHERE ${key} AND doc = ${p((b) => givenJsonb(b.calls[j]!.given![k]![2]!))}::jsonb)`;
      });
      ctes.push(`g${j} AS (SELECT ${checks.length === 0 ? "true" : checks.join(" AND ")} AS ok)`);
      selects.push(`(SELECT ok FROM g${j}) AS given${j}`);
    }
    const names: string[] = [];
    for (const [i, write] of writes.entries()) {
      const name = `w${j}_${i}`;
      names.push(name);
      const gate = i > 0 ? `EXISTS (SELECT 1 FROM w${j}_0)` : given ? `(SELECT ok FROM g${j})` : undefined;
      const g = "merge" in write ? groupOf.get(write) : undefined;
      if (g !== undefined) {
        // Made with the other merges into its row (below): here only whether this call's part is made.
        const member = together[g]!.find((m) => m.write === write)!;
        if (i === 0) {
          ctes.push(`${name} AS (SELECT 1 AS one WHERE ${gate ?? "true"})`);
          member.gate = `EXISTS (SELECT 1 FROM ${name})`;
          selects.push(`(SELECT count(*) FROM ${name})::int AS ${name}`);
        } else {
          member.gate = gate!;
          selects.push(`(CASE WHEN ${gate} THEN 1 ELSE 0 END) AS ${name}`);
        }
        continue;
      }
      ctes.push(`${name} AS (${writeCte(sql, params, write, (b) => b.calls[j]!.writes[i]!, gate)})`);
      selects.push(`(SELECT count(*) FROM ${name})::int AS ${name}`);
    }
    columns.push({ ...(given ? { given: `given${j}` } : {}), writes: names });
  }
  for (const [g, parts] of together.entries()) ctes.push(...mergeAll(sql, params, `m${g}`, parts, (b, k) => b.groups[g]![k]!));
  return { statement: { text: `WITH ${ctes.join(", ")} SELECT ${selects.join(", ")}`, params: params.values, columns }, gets: params.gets };
}

/** `doc`'s field as a number, 0 when missing or not a number (a merge's addition). */
function storedNumber(doc: string, field: string): string {
  return `COALESCE(CASE WHEN jsonb_typeof(${doc}->${literal(field)}) = 'number' THEN (${doc}->>${literal(field)})::numeric END, 0)`;
}

/** Whether the stored row's `newer` field sorts before `value` (by code point), or it has none that is a string. */
function storedIsOlder(field: string, value: string): string {
  const stored = `cur.doc->${literal(field)}`;
  return `(${stored} IS NULL OR jsonb_typeof(${stored}) <> 'string' OR (cur.doc->>${literal(field)}) COLLATE "C" < ${value} COLLATE "C")`;
}

/** A merge's fields set when it is newer, from its document `doc` (SQL): all but `_id` and those it adds to. */
function mergeSet(write: Merge, doc: string): string {
  return `(${doc} - ARRAY[${["_id", ...Object.keys(write.add)].map(literal).join(", ")}]::text[])`;
}

/**
 * One write as the body of its CTE, its parameters added to `params` (read from a batch
 * by `at`), made only where `gate` holds (none: always).
 */
function writeCte(sql: Sql, params: Params, write: Write, at: (batch: Batch) => Write, gate: string | undefined): string {
  const p = (get: Get) => params.add(get);
  if ("merge" in write) {
    const merge = at as (batch: Batch) => Merge;
    // Inserted, or merged into the stored row (`cur`) under its row lock: no read before, so no writer is refused.
    const values = `${p((b) => encodeString(merge(b).doc._id))}::text, ${p((b) => toJsonb(merge(b).doc))}::jsonb`;
    const rows = gate === undefined ? `VALUES (${values})` : `SELECT ${values} WHERE ${gate}`;
    const newer = storedIsOlder(write.newer, `${p((b) => newerOf(merge(b)))}::text`);
    const sums = Object.keys(write.add).map(
      (field) => `${literal(field)}::text, ${storedNumber("cur.doc", field)} + ${p((b) => merge(b).add[field])}::numeric`,
    );
    const merged = `(CASE WHEN ${newer} THEN cur.doc || ${mergeSet(write, "EXCLUDED.doc")} ELSE cur.doc END)${sums.length > 0 ? ` || jsonb_build_object(${sums.join(", ")})` : ""}`;
    return `INSERT INTO ${sql.table(write.merge)} AS cur (_id, doc) ${rows} ON CONFLICT (_id) DO UPDATE SET doc = ${merged} RETURNING 1`;
  }
  if ("insert" in write) {
    const insert = at as (batch: Batch) => Extract<Write, { insert: CollectionName }>;
    const values = `${p((b) => encodeString(insert(b).doc._id))}::text, ${p((b) => toJsonb(insert(b).doc))}::jsonb`;
    const rows = gate === undefined ? `VALUES (${values})` : `SELECT ${values} WHERE ${gate}`;
    return `INSERT INTO ${sql.table(write.insert)} (_id, doc) ${rows} ON CONFLICT (_id) DO NOTHING RETURNING 1`;
  }
  // An update's parameters are only values (no `gets`): a batch with one is not kept (`WriteStatements`).
  const conditions = new Conditions(sql, params.values);
  conditions.parts.push(`_id = ${conditions.param(encodeString(write.id))}`);
  conditions.where(write.expect);
  const change = patched(conditions, write.patch);
  if (gate !== undefined) conditions.parts.push(gate);
  return `UPDATE ${sql.table(write.update)} SET doc = ${change}${conditions.clause()} RETURNING 1`;
}

/** A merge's `newer` value, as compared (a string: `checkWrites`). */
function newerOf(write: Merge): string {
  return encodeString(String((write.doc as Doc & Record<string, unknown>)[write.newer]));
}

/**
 * The merges of several calls into one row as one merge (CTEs `<name>_in`, the parts
 * whose call made its first write, and `<name>`): as if each part were merged in turn by
 * ascending `newer` (a part whose `newer` equals an earlier one's sets nothing, as a
 * merge not newer than the stored row). No row stored: the first part's document, the
 * others' numbers added and their fields set in that order. A row stored: every part's
 * numbers added, and the fields of each part newer than the row set in that order.
 */
function mergeAll(sql: Sql, params: Params, name: string, parts: readonly { write: Merge; gate: string }[], at: (batch: Batch, k: number) => Merge): string[] {
  const p = (get: Get) => params.add(get);
  const [{ write: first }] = parts as [(typeof parts)[number]];
  const fields = [...new Set(parts.flatMap(({ write }) => Object.keys(write.add)))];
  const rows = parts.map(({ write, gate }, k) => {
    const adds = fields.map((field, f) => `${p((b) => at(b, k).add[field] ?? 0)}::numeric AS a${f}`);
    const newer = `${p((b) => newerOf(at(b, k)))}::text COLLATE "C" AS newer`;
    const doc = `${p((b) => toJsonb(at(b, k).doc))}::jsonb`;
    return `SELECT ${k} AS k, ${doc} AS doc, ${mergeSet(write, doc)} AS set, ${newer}${adds.map((a) => `, ${a}`).join("")} WHERE ${gate}`;
  });
  // The fields of the parts newer than `than`, each value from the latest part naming it.
  const setsAfter = (than: (x: string) => string) =>
    `COALESCE((SELECT jsonb_object_agg(e.key, e.value ORDER BY r.newer, r.k) FROM (SELECT DISTINCT ON (x.newer) x.newer, x.k, x.set FROM ${name}_in x WHERE ${than("x.newer")} ORDER BY x.newer, x.k) r CROSS JOIN LATERAL jsonb_each(r.set) e), '{}'::jsonb)`;
  const sums = (base: string, except: string) =>
    fields.map((field, f) => `${literal(field)}::text, ${storedNumber(base, field)} + (SELECT COALESCE(sum(a${f}), 0) FROM ${name}_in${except})`).join(", ");
  const withSums = (doc: string, base: string, except: string) => (fields.length > 0 ? `${doc} || jsonb_build_object(${sums(base, except)})` : doc);
  const inserted = withSums(`f.doc || ${setsAfter((x) => `${x} > f.newer`)}`, "f.doc", " WHERE k <> f.k");
  const merged = withSums(`cur.doc || ${setsAfter((x) => storedIsOlder(first.newer, x))}`, "cur.doc", "");
  return [
    `${name}_in AS (${rows.join(" UNION ALL ")})`,
    `${name} AS (INSERT INTO ${sql.table(first.merge)} AS cur (_id, doc) SELECT ${p((b) => encodeString(at(b, 0).doc._id))}::text, ${inserted} FROM (SELECT * FROM ${name}_in ORDER BY newer, k LIMIT 1) f ON CONFLICT (_id) DO UPDATE SET doc = ${merged} RETURNING 1)`,
  ];
}
