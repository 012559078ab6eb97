/**
 * `indiepm send` (CLI.md): writes a message from a site this server holds and, unless
 * `--no-wait`, follows every delivery until it ends or `--timeout` runs out, polling
 * `GET api/messages/{id}`, with progress on stderr.
 */
import type { DeliveryView, SendInput } from "@indiepm/core";
import { flag, parseCommand, stringList, stringValue, usage } from "./args.js";
import { EXIT_FAILURE, EXIT_OK } from "./cli-error.js";
import type { OwnerClient } from "./client.js";
import { canonical, deliveryJson, deliveryLines, jsonDocument, terminalSafe } from "./format.js";
import type { Io } from "./io.js";
import { DEFAULT_SEND_TIMEOUT_SECONDS } from "./defaults.js";
import { OWNER_OPTIONS, ownerClient, ownerFailure, siteArgument } from "./owner.js";

const OPTIONS = {
  ...OWNER_OPTIONS,
  from: { type: "string" },
  to: { type: "string", multiple: true },
  subject: { type: "string" },
  "reply-to": { type: "string" },
  html: { type: "string" },
  flow: { type: "string" },
  "hide-recipients": { type: "boolean" },
  "no-wait": { type: "boolean" },
  timeout: { type: "string" },
} as const;

const POLL_FIRST_MS = 200;
const POLL_MAX_MS = 1_000;

function parseTimeout(value: string | undefined): number {
  if (value === undefined) return DEFAULT_SEND_TIMEOUT_SECONDS;
  if (!/^\d+(\.\d+)?$/.test(value)) throw usage("send", `--timeout must be a number of seconds, got ${JSON.stringify(value)}`);
  return Number(value);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function progressLine(d: DeliveryView): string {
  const recipient = terminalSafe(canonical(d.recipient));
  if (d.status === "delivered") return `indiepm send: delivered to ${recipient}\n`;
  if (d.status === "failed") return `indiepm send: failed for ${recipient}: ${d.error ?? "failed"}${d.detail ? ` (${terminalSafe(d.detail)})` : ""}\n`;
  return `indiepm send: still trying ${recipient}${d.detail ? ` (${terminalSafe(d.detail)})` : ""}\n`;
}

/** Polls until no delivery is pending or the deadline passes; reports each change on stderr. */
async function waitForDeliveries(client: OwnerClient, id: string, initial: DeliveryView[], timeoutMs: number, io: Io): Promise<DeliveryView[]> {
  const deadline = Date.now() + timeoutMs;
  let deliveries = initial;
  const seen = new Map(initial.map((d) => [d.recipient, `${d.status}|${d.detail ?? ""}`]));
  let interval = POLL_FIRST_MS;
  while (deliveries.some((d) => d.status === "pending") && Date.now() < deadline) {
    await sleep(Math.min(interval, Math.max(0, deadline - Date.now())));
    interval = Math.min(POLL_MAX_MS, interval * 2);
    const lookup = await client.getMessage(id);
    if (!lookup.sent) break;
    deliveries = lookup.sent.deliveries;
    for (const d of deliveries) {
      const state = `${d.status}|${d.detail ?? ""}`;
      if (seen.get(d.recipient) !== state) {
        seen.set(d.recipient, state);
        io.stderr(progressLine(d));
      }
    }
  }
  return deliveries;
}

export async function runSend(argv: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand("send", argv, OPTIONS, true);
  const json = flag(values, "json");
  const fromFlag = stringValue(values, "from");
  if (fromFlag === undefined) throw usage("send", "--from SITE is required");
  const from = siteArgument("send", "--from", fromFlag);
  const toFlags = stringList(values, "to");
  if (toFlags.length === 0) throw usage("send", "at least one --to SITE is required");
  const to = [...new Set(toFlags.map((t) => siteArgument("send", "--to", t)))];
  const content = positionals.join(" ");
  if (content.trim() === "") throw usage("send", "the message TEXT is missing");
  const flow = stringValue(values, "flow");
  if (flow !== undefined && flow !== "token" && flow !== "message") {
    throw usage("send", `--flow must be "token" or "message", got ${JSON.stringify(flow)}`);
  }
  const timeoutSeconds = parseTimeout(stringValue(values, "timeout"));
  const subject = stringValue(values, "subject");
  const replyTo = stringValue(values, "reply-to");
  const html = stringValue(values, "html");
  const noWait = flag(values, "no-wait");
  const client = ownerClient("send", values, io);

  const input: SendInput = {
    from,
    to,
    content,
    ...(subject !== undefined ? { subject } : {}),
    ...(replyTo !== undefined ? { inReplyTo: replyTo } : {}),
    ...(html !== undefined ? { html } : {}),
    ...(flow !== undefined ? { flow } : {}),
    ...(flag(values, "hide-recipients") ? { hideRecipients: true } : {}),
  };

  let taken;
  try {
    taken = await client.send(input);
  } catch (error) {
    throw ownerFailure("send", error); // not taken: nothing on stdout
  }

  let deliveries = taken.deliveries;
  let failure: unknown;
  if (!noWait) {
    io.stderr(`indiepm send: ${terminalSafe(taken.message)} taken; delivering to ${deliveries.length} recipient${deliveries.length === 1 ? "" : "s"}…\n`);
    try {
      deliveries = await waitForDeliveries(client, taken.message, deliveries, timeoutSeconds * 1000, io);
    } catch (error) {
      failure = error; // the message was taken: still say where the deliveries stood
    }
  }

  if (json) io.stdout(jsonDocument({ message: taken.message, deliveries: deliveries.map(deliveryJson) }));
  else io.stdout(`${terminalSafe(taken.message)}\n${deliveryLines(deliveries)}`);

  if (failure !== undefined) {
    io.stderr(`${ownerFailure("send", failure).message}\n`);
    return EXIT_FAILURE;
  }
  if (noWait) return EXIT_OK;
  const pending = deliveries.filter((d) => d.status === "pending");
  if (pending.length > 0) {
    io.stderr(
      `indiepm send: --timeout (${timeoutSeconds} s) ran out with ${pending.length} deliver${pending.length === 1 ? "y" : "ies"} still pending; the server keeps trying.\n`,
    );
  }
  const failed = deliveries.filter((d) => d.status === "failed");
  if (failed.length > 0) io.stderr(`indiepm send: ${failed.length} of ${deliveries.length} deliveries failed.\n`);
  return deliveries.every((d) => d.status === "delivered") ? EXIT_OK : EXIT_FAILURE;
}
