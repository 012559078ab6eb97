/**
 * What nedb's reader gets wrong about a datafile, repaired or refused before it reads it.
 *
 * - nedb reads its files with a line splitter that also breaks at U+2028, U+2029 and
 *   U+0085, which `JSON.stringify` leaves unescaped: one message containing them made the
 *   whole datafile unloadable. Lines are written with those characters escaped
 *   (`escapeLineBreaks`, nedb's `afterSerialization`).
 * - nedb drops unreadable lines silently below 10 % of a file and refuses above. Here a
 *   torn last line (a crash mid-append) is repaired with the original kept aside, and any
 *   other unreadable line is refused, naming the file: no document disappears unnoticed.
 */
import { constants } from "node:fs";
import { copyFile, open, readFile, rename } from "node:fs/promises";
import { PmError } from "../../errors.js";
import { codeOf, messageOf } from "./errors.js";

/** The line breaks of nedb's reader (@seald-io/nedb lib/byline.js), to count lines as it does. */
const NEDB_LINE_BREAKS = /\r\n|[\n\v\f\r\x85\u2028\u2029]/;
/** The ones of them `JSON.stringify` leaves raw (it escapes the other control characters). */
const UNESCAPED_LINE_BREAKS = /[\u0085\u2028\u2029]/g;

/**
 * Decides before nedb does: last line readable → load (nedb, with `corruptAlertThreshold:
 * 0`, refuses any other unreadable line, and `openDatafile` then names them); only the
 * last one unreadable (a torn append) → keep the original aside, write the file without
 * it, load; anything else → refuse with the file and the lines named. Only the end of
 * the file is read unless the last line is torn: reading and parsing all of it here as
 * well as in nedb cost a second and a few hundred MB at 100,000 messages (bench/inbox.js).
 */
export async function checkDatafile(file: string, onRepair: (message: string) => void): Promise<void> {
  let last: string | undefined;
  try {
    last = await lastLine(file);
  } catch (error) {
    if (codeOf(error) === "ENOENT") return; // a new collection (or nedb's `file~` recovery)
    throw new PmError("store_error", `The data file ${file} cannot be read: ${messageOf(error)}.`, { cause: error });
  }
  if (last === undefined || isDocumentLine(last)) return;

  const { lines, unreadable } = await scanDatafile(file);
  const torn = lines.at(-1);
  if (torn === undefined || unreadable.length > 1 || unreadable[0] !== torn) {
    throw corruptFileError(
      file,
      unreadable.length,
      lines.length,
      unreadable.map(({ number }) => number),
    );
  }
  const aside = `${file}.torn-${new Date().toISOString().replace(/[:.]/g, "-")}`;
  try {
    await copyFile(file, aside, constants.COPYFILE_EXCL);
    await writeFileSynced(
      `${file}.repairing`,
      lines
        .slice(0, -1)
        .map(({ line }) => `${line}\n`)
        .join(""),
    );
    await rename(`${file}.repairing`, file);
  } catch (error) {
    throw new PmError("store_error", `The data file ${file} ends with a torn line and cannot be repaired: ${messageOf(error)}.`, { cause: error });
  }
  onRepair(`The data file ${file} ended with a torn line (line ${torn.number}, a write cut short); it was dropped and the original kept as ${aside}.`);
}

/** Every non-empty line of the datafile, split as nedb splits them, and the unreadable ones. */
export async function scanDatafile(file: string): Promise<{ lines: { line: string; number: number }[]; unreadable: { line: string; number: number }[] }> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new PmError("store_error", `The data file ${file} cannot be read: ${messageOf(error)}.`, { cause: error });
  }
  const lines = text
    .split(NEDB_LINE_BREAKS)
    .map((line, index) => ({ line, number: index + 1 }))
    .filter(({ line }) => line !== "");
  return { lines, unreadable: lines.filter(({ line }) => !isDocumentLine(line)) };
}

/** The last non-empty line of a file (split as nedb splits), reading it from the end; `undefined` when there is none. */
async function lastLine(file: string): Promise<string | undefined> {
  const handle = await open(file, "r");
  try {
    let end = (await handle.stat()).size;
    let tail = Buffer.alloc(0);
    // Doubling reads keep a file that is one huge line (corrupt) linear to read.
    for (let size = 64 * 1024; end > 0; size *= 2) {
      const start = Math.max(0, end - size);
      const chunk = Buffer.alloc(end - start);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, start);
      tail = Buffer.concat([chunk.subarray(0, bytesRead), tail]);
      end = start;
      // A character cut at the start of `tail` decodes as U+FFFD, never as a line break.
      const lines = tail.toString("utf8").split(NEDB_LINE_BREAKS);
      let index = lines.length - 1;
      while (index >= 0 && lines[index] === "") index--;
      // Whole once a line break precedes it, or the file's start does.
      if (index > 0 || (index === 0 && end === 0)) return lines[index];
    }
    return undefined;
  } finally {
    await handle.close();
  }
}

function isDocumentLine(line: string): boolean {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === "object" && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}

export function corruptFileError(file: string, unreadable: number, total: number, lineNumbers: number[], cause?: unknown): PmError {
  const which =
    lineNumbers.length === 0
      ? ""
      : ` (line${lineNumbers.length === 1 ? "" : "s"} ${lineNumbers.slice(0, 10).join(", ")}${lineNumbers.length > 10 ? ", …" : ""})`;
  return new PmError(
    "store_error",
    `The data file ${file} is corrupt (${unreadable} of ${total} lines unreadable); restore it from a backup, or remove the unreadable lines${which} and start again.`,
    cause === undefined ? {} : { cause },
  );
}

/** Writes and flushes to disk, so the rename that follows never exposes an empty file. */
async function writeFileSynced(file: string, text: string): Promise<void> {
  const handle = await open(file, "w");
  try {
    await handle.writeFile(text, "utf8");
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export function escapeLineBreaks(line: string): string {
  // These characters only occur inside JSON strings, where `\uXXXX` means the same.
  return line.replace(UNESCAPED_LINE_BREAKS, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}
