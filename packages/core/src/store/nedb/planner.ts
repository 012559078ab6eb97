/**
 * The query planner: what nedb's own `find` does slowly, answered from its index trees.
 *
 * nedb answers a sorted `find` by sorting every candidate before applying the limit
 * (2 s for the first inbox page of 100,000 messages, bench/inbox.js), and takes its
 * candidates from the *last* indexed field of the query, not the most selective one.
 * Here a sorted and limited `find` walks the sort field's index in order and stops at
 * the limit, and equality conditions are ordered so nedb picks the narrowest index.
 * Both read nedb internals (internals.ts).
 */
import type { Query, Scalar } from "../types.js";
import { internals, nedbModel, type IndexNode, type NedbDatastore, type NedbDocument } from "./internals.js";
import { toNedbQuery } from "./query.js";

/** Below this many candidates nedb's own sort is as quick as a walk. */
const WALK_MIN_CANDIDATES = 256;

/** The documents (as nedb stores them, copied) matching `query`, sorted and limited as it asks. */
export async function plannedFind(datastore: NedbDatastore, query: Query): Promise<NedbDocument[]> {
  if (query.limit === 0 || noneLacks(datastore, query.where)) return [];
  const { query: nedbQuery, candidates } = narrowestFirst(datastore, toNedbQuery(query.where, query.range));
  if (query.sort !== undefined && query.limit !== undefined && candidates > WALK_MIN_CANDIDATES) {
    const walked = await walkSortIndex(datastore, nedbQuery, query as WalkableQuery, candidates);
    if (walked !== null) return walked;
  }
  let cursor = datastore.find(nedbQuery);
  if (query.sort !== undefined) cursor = cursor.sort({ [query.sort.field]: query.sort.order === "asc" ? 1 : -1 });
  if (query.limit !== undefined) cursor = cursor.limit(query.limit);
  return (await cursor) as NedbDocument[];
}

type WalkableQuery = Query & { sort: NonNullable<Query["sort"]>; limit: number };

/**
 * nedb takes its candidates from the last field of the query that has an index; this
 * puts the indexed equality with the fewest documents last, and says how many that is
 * (`Infinity`: no index narrows the query, every document is a candidate).
 */
export function narrowestFirst(datastore: NedbDatastore, query: Record<string, unknown>): { query: Record<string, unknown>; candidates: number } {
  const indexes = internals(datastore).indexes;
  let best: string | undefined;
  let candidates = Infinity;
  for (const [field, value] of Object.entries(query)) {
    const index = indexes[field];
    if (index === undefined || (typeof value === "object" && value !== null)) continue;
    const matching = index.getMatching(value).length;
    if (matching <= candidates) [best, candidates] = [field, matching];
  }
  if (best === undefined) return { query, candidates };
  const { [best]: value, ...rest } = query;
  return { query: { ...rest, [best]: value }, candidates };
}

/**
 * A sorted, limited `find` answered from the sort field's index: its documents in key
 * order (the order nedb's sort gives; documents with equal keys in index order), each
 * checked with nedb's own matcher, until `limit` match. Subtrees outside a range on the
 * sort field are skipped. Gives up (`null`: let nedb sort) once it has looked at more
 * documents than sorting the `candidates` would cost, so a walk past many documents
 * that do not match is never much worse than nedb's plan. Runs as one task of nedb's
 * queue, like a `find`.
 */
function walkSortIndex(
  datastore: NedbDatastore,
  query: Record<string, unknown>,
  { sort, limit, range }: WalkableQuery,
  candidates: number,
): Promise<NedbDocument[] | null> {
  const nedb = internals(datastore);
  return nedb.executor.pushAsync(async () => {
    const index = nedb.indexes[sort.field];
    const onSortField = range !== undefined && range.field === sort.field;
    // A sparse index lacks the documents without the field: walked only under a range on
    // it, which such documents never match (nedb compares values of one type).
    if (index === undefined || (index.sparse && !onSortField)) return null;
    const lower = onSortField ? [range.gt, range.gte].filter((b) => b !== undefined) : [];
    const upper = onSortField ? [range.lt, range.lte].filter((b) => b !== undefined) : [];
    const budget = Number.isFinite(candidates) ? Math.ceil(candidates * Math.log2(candidates)) : Infinity;
    const found: NedbDocument[] = [];
    let looked = 0;
    for (const doc of inKeyOrder(index.tree.tree, sort.order === "desc", lower, upper)) {
      if (++looked > budget) return null;
      if (!nedbModel.match(doc, query)) continue;
      found.push(nedbModel.deepCopy(doc));
      if (found.length === limit) break;
    }
    return found;
  });
}

/**
 * The documents of an index tree in key order (or reversed), in-order without recursion.
 * A subtree whose keys all lie below a lower bound (above an upper one) is skipped:
 * nedb's `$gt`… compare only values of one type, and the tree orders values by type
 * first, so none of it could match.
 */
function* inKeyOrder(root: IndexNode, descending: boolean, lower: Scalar[], upper: Scalar[]): Generator<NedbDocument> {
  if (!Object.hasOwn(root, "key")) return; // an empty tree
  const below = (node: IndexNode) => lower.some((bound) => nedbModel.compareThings(node.key, bound) < 0);
  const above = (node: IndexNode) => upper.some((bound) => nedbModel.compareThings(node.key, bound) > 0);
  // Ascending: left subtree, node, right subtree; descending: the mirror image.
  const first = (node: IndexNode) => (descending ? (above(node) ? null : node.right) : below(node) ? null : node.left);
  const second = (node: IndexNode) => (descending ? (below(node) ? null : node.left) : above(node) ? null : node.right);
  const stack: IndexNode[] = [];
  let node: IndexNode | null = root;
  while (node !== null || stack.length > 0) {
    while (node !== null) {
      stack.push(node);
      node = first(node);
    }
    const current = stack.pop()!;
    if (descending) for (let i = current.data.length - 1; i >= 0; i--) yield current.data[i]!;
    else yield* current.data;
    node = second(current);
  }
}

/**
 * Whether `where` asks for a field that no document lacks: `{f: null}` (missing or null)
 * where f's index is sparse (it leaves out the documents without f), holds every document,
 * and none under `null`. Such a find matches nothing, known from two counts of index trees
 * instead of matching every candidate: the look for documents an older version left
 * without a stored field (owner/filing.ts; `conversation: null` walked the site's 90,000
 * documents at 100,000 messages, 139 ms).
 */
export function noneLacks(datastore: NedbDatastore, where: Query["where"]): boolean {
  const indexes = internals(datastore).indexes;
  let all: number | undefined;
  for (const [field, value] of Object.entries(where ?? {})) {
    const index = indexes[field];
    if (value !== null || index === undefined || !index.sparse || index.getMatching(null).length > 0) continue;
    all ??= documentsIn(indexes._id!.tree.tree);
    if (documentsIn(index.tree.tree) === all) return true;
  }
  return false;
}

/** How many documents an index tree holds (every key's), without recursion. */
function documentsIn(root: IndexNode): number {
  if (!Object.hasOwn(root, "key")) return 0; // an empty tree
  let count = 0;
  const stack: IndexNode[] = [root];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    count += node.data.length;
    if (node.left !== null) stack.push(node.left);
    if (node.right !== null) stack.push(node.right);
  }
  return count;
}
