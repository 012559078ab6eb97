/** `indiepm outbox` (CLI.md): sent messages, newest first, with their deliveries — all of them, page after page (or the first `--limit`). */
import { flag, parseCommand } from "./args.js";
import { EXIT_OK } from "./cli-error.js";
import { jsonDocument, outboxJson, outboxListing } from "./format.js";
import type { Io } from "./io.js";
import { allPages, LIST_OPTIONS, listQuery } from "./list.js";
import { ownerClient, ownerFailure } from "./owner.js";

export async function runOutbox(argv: readonly string[], io: Io): Promise<number> {
  const { values } = parseCommand("outbox", argv, LIST_OPTIONS, false);
  const query = listQuery("outbox", values);
  const client = ownerClient("outbox", values, io);
  let messages;
  try {
    messages = await allPages(query, (q) => client.outboxPage(q));
  } catch (error) {
    throw ownerFailure("outbox", error);
  }
  io.stdout(flag(values, "json") ? jsonDocument(messages.map(outboxJson)) : outboxListing(messages));
  return EXIT_OK;
}
