/**
 * Documents as the engine stores them, for the conversation tests: messages bob's site
 * received (`inbox`) and wrote (`outbox`), each one second after the last by a clock of
 * the test file's own (`clock.ms`; a test may move it back to write several in one moment).
 */
import type { InboxDoc, OutboxDoc } from "../../src/protocol/records.js";
import { keyOf } from "../../src/secrets.js";

export const BOB = "https://bob.example.com/";
export const ALICE = "https://alice.example.org/";
export const CAROL = "https://carol.example/";

export function bobsMessages(start = 1_700_000_000_000) {
  const clock = { ms: start };
  function received(message: string, sender: string, extra: Partial<InboxDoc> = {}): InboxDoc {
    clock.ms += 1000;
    return {
      _id: keyOf(BOB, sender, message),
      message,
      sender,
      recipient: BOB,
      content: `text of ${message}`,
      published: "2024-01-01T00:00:00Z",
      receivedAt: clock.ms,
      ...extra,
    };
  }
  function sent(message: string, recipients: string[], extra: Partial<OutboxDoc> = {}): OutboxDoc {
    clock.ms += 1000;
    return {
      _id: keyOf(BOB, message),
      message,
      sender: BOB,
      recipients,
      content: `text of ${message}`,
      published: "2024-01-01T00:00:00Z",
      flow: "token",
      createdAt: clock.ms,
      ...extra,
    };
  }
  return { clock, received, sent };
}
