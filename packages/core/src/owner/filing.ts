/**
 * Filing passes: documents written before a stored field existed (a message's
 * `conversation`, owner/conversations.ts) get it in one pass, run by whichever process
 * looks first. A pass says how to look for what is left (`left`: an indexed probe, e.g.
 * `find(box, {where: {recipient: site, conversation: null}, limit: 1})`) and how to file it
 * (`file`: idempotent, since several processes may run it at once). A pass that needs what
 * another writes (chats are sorted by the page keys the conversations pass writes) names it
 * in `after`: it files a site only once that pass has nothing left there.
 *
 * Each process looks once per (pass, site) — at `PmServer.start()` (`lookAtStart`), so the
 * first owner read of a process does not pay the look on a connection just opened (issue
 * 11: the first inbox page at 1,000,000 messages on PostgreSQL) — and on a store shared by
 * several processes again at most every `REFILE_CHECK_MS`: an instance of an older version
 * may still be writing during a rolling upgrade, or `indiepm migrate` copying into a
 * database in use. Nothing is remembered in the store: a stored "done" could not see a
 * document that such a writer adds after it.
 */
import type { Store } from "../store/types.js";
import type { ChatWrites } from "./chats.js";

/** What a filing runs with: the server's store, its filings made so far, and its writes of chat summaries. */
export interface FilingContext {
  store: Store;
  filing?: Filing;
  chatWrites?: ChatWrites;
}

/** One kind of filing of older documents. */
export interface FilingPass {
  /** Names the pass: the per-process state is kept per (pass, site). */
  readonly name: string;
  /** Whether some document of `site` still lacks what the pass writes. An indexed probe: every process runs it. */
  left(store: Store, site: string): Promise<boolean>;
  /** Files what is left of `site`. Idempotent; may run in several processes at once, and inside `Store.batch`. `ctx`: the server's, whose state it may use. */
  file(store: Store, site: string, ctx?: FilingContext): Promise<void>;
  /** The passes whose filing of a site must be done before this one files it (their look and its are made at once). */
  readonly after?: readonly FilingPass[];
}

/**
 * How often a process on a store shared by several (`Store.shared`) looks again for
 * documents left to file: an instance of an older version writing to the same database
 * during a rolling upgrade, or `indiepm migrate` copying into a database in use. A store of
 * one process is looked at once.
 */
export const REFILE_CHECK_MS = 60_000;

interface Entry {
  /** Resolves once the look is answered (the filing, if any, may still run). */
  looked: Promise<void>;
  /** Resolves once nothing is left to file. */
  done: Promise<void>;
  /** When it was last looked at. */
  at: number;
  /** Set as the look or filing fails: the next read looks again. */
  failed?: true;
}

/** Per (pass, site): the look and filing under way or done in this process (`OwnerContext.filing`). */
export type Filing = Map<string, Entry>;

/** The entry of (pass, site): the one there, or a new look (and filing) when there is none or a shared store's is stale. */
function entryFor(ctx: FilingContext, pass: FilingPass, site: string): Entry {
  const { store } = ctx;
  ctx.filing ??= new Map();
  const entries = ctx.filing;
  const key = `${pass.name} ${site}`;
  const previous = entries.get(key);
  if (previous && !previous.failed && (store.shared === undefined || Date.now() - previous.at < REFILE_CHECK_MS)) return previous;
  // The entries of the passes it comes after, as they stand (a look of their own where there is none).
  const before = (pass.after ?? []).map((other) => entryFor(ctx, other, site));
  let answered!: () => void;
  const current: Entry = { looked: new Promise<void>((resolve) => (answered = resolve)), done: Promise.resolve(), at: Date.now() };
  current.done = (async () => {
    try {
      await previous?.done.catch(() => undefined);
      const left = await pass.left(store, site);
      answered();
      // The passes it builds on finish this site first; one that failed fails this one too (the next read looks at both again).
      if (left) for (const entry of before) await entry.done;
      // Idempotent: its writes may be made durable together (Store.batch).
      if (left) await (store.batch ? store.batch((batched) => pass.file(batched, site, ctx)) : pass.file(store, site, ctx));
      current.at = Date.now();
    } catch (error) {
      current.failed = true;
      throw error;
    } finally {
      answered();
    }
  })();
  entries.set(key, current);
  // A failure (the store went away) is looked at again on the next read; the entry is dropped.
  current.done.catch(() => {
    if (entries.get(key) === current) entries.delete(key);
  });
  return current;
}

/** Resolves once nothing is left for `pass`, nor for the passes it comes `after`, in these sites (see the top of this file). */
export async function ensurePass(ctx: FilingContext, pass: FilingPass, sites: Iterable<string>): Promise<void> {
  for (const site of sites) {
    for (const before of pass.after ?? []) await ensurePass(ctx, before, [site]);
    await entryFor(ctx, pass, site).done;
  }
}

/**
 * At start: looks for what each pass left in each site, all at once, and resolves when
 * every look is answered. Filing found needed goes on in the background, each pass's after
 * those it comes `after`, and the reads await it (`ensurePass`); a look that fails is made
 * again by the first read.
 */
export async function lookAtStart(ctx: FilingContext, passes: readonly FilingPass[], sites: Iterable<string>): Promise<void> {
  const list = [...sites];
  await Promise.all(passes.flatMap((pass) => list.map((site) => entryFor(ctx, pass, site).looked)));
}
