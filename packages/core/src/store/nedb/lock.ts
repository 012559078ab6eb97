/**
 * The lock: one process per data folder (`<dir>/LOCK`).
 *
 * nedb keeps every document in memory and rewrites ("compacts") its file when opening, so
 * two processes on one folder would erase each other's writes. A lock naming this
 * process's own pid but not held by this process is stale: a restarted container is PID 1
 * again and finds the lock of its previous life (also PID 1).
 */
import { randomUUID } from "node:crypto";
import { readFile, realpath, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { PmError } from "../../errors.js";
import { codeOf, messageOf } from "./errors.js";

const LOCK_FILE = "LOCK";

/**
 * The data folders this process holds, with the token of each one's lock, shared by every
 * copy of this module in the process (src and dist can both be loaded): a second open of
 * a held folder is refused, while a lock naming this pid that is not in here was left by
 * an earlier process that had the same pid.
 */
const HELD_LOCKS: Map<string, string> = heldLocks();

function heldLocks(): Map<string, string> {
  const shared = globalThis as { [key: symbol]: Map<string, string> | undefined };
  const key = Symbol.for("indiepm.nedb.heldLocks");
  shared[key] ??= new Map();
  return shared[key];
}

interface LockHolder {
  pid: number;
  startedAt?: string;
}

/** Takes `dir/LOCK` for this process, or refuses; resolves to the function that releases it. */
export async function acquireLock(dir: string, onRepair: (message: string) => void): Promise<() => Promise<void>> {
  const lockPath = path.join(dir, LOCK_FILE);
  // One key per folder however it is named (a symlink, a relative path).
  const key = await realpath(dir).catch(() => dir);
  // The token tells our lock from a later holder's, so release never removes another's,
  // and this open from an earlier process that had the same pid.
  const token = randomUUID();
  const content = JSON.stringify({ pid: process.pid, startedAt: new Date().toISOString(), token });
  const release = async () => {
    if (HELD_LOCKS.get(key) === token) HELD_LOCKS.delete(key);
    try {
      if ((await readFile(lockPath, "utf8")) === content) await unlink(lockPath);
    } catch (error) {
      if (codeOf(error) !== "ENOENT") throw new PmError("store_error", `The lock ${lockPath} cannot be removed: ${messageOf(error)}.`, { cause: error });
    }
  };
  const heldHere = () =>
    new PmError(
      "store_error",
      `The data folder ${dir} is already open in this process (pid ${process.pid}); close that store first or use another --data folder.`,
    );
  // Claimed before any await, so two opens in one process cannot both pass.
  if (HELD_LOCKS.has(key)) throw heldHere();
  HELD_LOCKS.set(key, token);
  try {
    return await takeLock();
  } catch (error) {
    if (HELD_LOCKS.get(key) === token) HELD_LOCKS.delete(key);
    throw error;
  }

  async function takeLock(): Promise<() => Promise<void>> {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await writeFile(lockPath, content, { flag: "wx" });
        return release;
      } catch (error) {
        if (codeOf(error) !== "EEXIST") throw new PmError("store_error", `The lock ${lockPath} cannot be created: ${messageOf(error)}.`, { cause: error });
      }
      const holder = await readLockHolder(lockPath);
      if (holder === "gone") continue;
      // Our own pid, not held by this process (HELD_LOCKS): an earlier life of this pid wrote it.
      const ownPid = holder !== "unreadable" && holder.pid === process.pid;
      if (holder !== "unreadable" && !ownPid && isAlive(holder.pid)) {
        throw new PmError(
          "store_error",
          `The data folder ${dir} is in use by another indiepm process (pid ${holder.pid}); stop it or use another --data folder.`,
        );
      }
      // Two processes taking over one stale lock in the same instant could both succeed;
      // a stale lock is left by a crash, so that needs two starts racing right after one.
      try {
        await unlink(lockPath);
      } catch (error) {
        if (codeOf(error) !== "ENOENT")
          throw new PmError("store_error", `The stale lock ${lockPath} cannot be removed: ${messageOf(error)}.`, { cause: error });
      }
      const who =
        holder === "unreadable"
          ? "an unreadable lock"
          : ownPid
            ? `the lock of an earlier process with this process's pid ${holder.pid} (a restarted container)`
            : `the lock of process ${holder.pid}, which no longer runs`;
      onRepair(`Took over ${who} in the data folder ${dir}.`);
    }
    throw new PmError("store_error", `The lock ${lockPath} keeps changing; another indiepm process is starting on the data folder ${dir}.`);
  }
}

/** The lock's holder; a lock file being written right now is read again before it counts as unreadable. */
async function readLockHolder(lockPath: string): Promise<LockHolder | "gone" | "unreadable"> {
  for (let attempt = 0; attempt < 2; attempt++) {
    let text: string;
    try {
      text = await readFile(lockPath, "utf8");
    } catch (error) {
      if (codeOf(error) === "ENOENT") return "gone";
      throw new PmError("store_error", `The lock ${lockPath} cannot be read: ${messageOf(error)}.`, { cause: error });
    }
    try {
      const holder: unknown = JSON.parse(text);
      if (typeof holder === "object" && holder !== null && "pid" in holder && Number.isSafeInteger(holder.pid) && (holder.pid as number) > 0) {
        return holder as LockHolder;
      }
    } catch {
      // fall through: read again once
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return "unreadable";
}

/** `kill(pid, 0)` sends nothing: it only asks whether the process exists (EPERM: it does, as another user). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return codeOf(error) !== "ESRCH";
  }
}
