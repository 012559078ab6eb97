/** `indiepm inbox` (CLI.md): received messages, newest arrival first — all of them, page after page (or the first `--limit`). */
import { flag, parseCommand } from "./args.js";
import { EXIT_OK } from "./cli-error.js";
import { inboxJson, inboxListing, jsonDocument } from "./format.js";
import type { Io } from "./io.js";
import { allPages, LIST_OPTIONS, listQuery } from "./list.js";
import { ownerClient, ownerFailure } from "./owner.js";

export async function runInbox(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseCommand("inbox", argv, LIST_OPTIONS, false);
  const query = listQuery("inbox", values);
  const client = ownerClient("inbox", values, io);
  let messages;
  try {
    messages = await allPages(query, (q) => client.inboxPage(q));
  } catch (error) {
    throw ownerFailure("inbox", error);
  }
  io.stdout(flag(values, "json") ? jsonDocument(messages.map(inboxJson)) : inboxListing(messages));
  return EXIT_OK;
}
