/**
 * `pnpm demo`: the seed's four hosts on loopback. Alice writes to Bob by the message
 * flow (PROTOCOL.md §3), Bob answers by the token flow (§4), every protocol step is
 * printed as it happens; then the servers keep running for you to look at.
 *
 * Flags: `--once` (exit after both messages), `--port-base N` (ports N+1…N+4; default
 * 4000; 0 picks free ports), `--data DIR` (default: a fresh temporary folder).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { PmServer, SentMessage } from "@indiepm/core";
import { startDemo } from "./hosts.js";
import { Tracer } from "./trace.js";

const out = (line = "") => process.stdout.write(`${line}\n`);

async function settled(pm: PmServer, message: string, timeoutMs = 30_000): Promise<SentMessage> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const sent = (await pm.getMessage(message)).sent;
    if (sent?.deliveries.every((d) => d.status !== "pending")) return sent;
    if (Date.now() > deadline) throw new Error(`The delivery of ${message} did not finish within ${timeoutMs / 1000} s.`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { once: { type: "boolean", default: false }, "port-base": { type: "string", default: "4000" }, data: { type: "string" } },
  });
  const portBase = Number(values["port-base"]);
  if (!Number.isInteger(portBase) || portBase < 0 || portBase > 65_000) {
    process.stderr.write("demo: --port-base must be a whole number from 0 to 65000.\n");
    return 2;
  }
  const dataDir = values.data ?? (await mkdtemp(join(tmpdir(), "indiepm-demo-")));
  const tracer = new Tracer(out);
  const demo = await startDemo({ dataDir, portBase, onEvent: (e) => tracer.print(e) });
  for (const h of [demo.aliceSite, demo.alicePm, demo.bobSite, demo.bobPm]) tracer.name(h.url, h.name);

  out("indiepm demo — the four hosts of the rel=pm brainstorm, on loopback:");
  out(`  alice.example.org    ${demo.aliceSite.url}   static site, <link rel="pm"> in its head`);
  out(`  pm.alice.example.uk  ${demo.alicePm.url}   standalone pm server`);
  out(`  bob.example.com      ${demo.bobSite.url}   Express site, Link: rel="pm" header (pmLink)`);
  out(`  pm.bob.example.net   ${demo.bobPm.url}   Express app mounting indiepm()`);
  out("Each line is one protocol step, printed when its answer arrives. Step 5 prints before");
  out("step 4: the sender's endpoint checks the recipient's rel=pm before it answers step 4.");
  out();

  let ok = true;
  try {
    out("1) Alice writes to Bob by the message flow (PROTOCOL.md §3: one message, one token):");
    const first = await demo.alicePm.pm.send({
      from: demo.aliceSite.url,
      to: [demo.bobSite.url],
      subject: "Hello",
      content: "Hi Bob! This came by the message flow.",
      flow: "message",
    });
    const firstDone = await settled(demo.alicePm.pm, first.message);
    out(`   → ${firstDone.deliveries.map((d) => `${d.status}${d.error ? ` (${d.error})` : ""}`).join(", ")}: ${first.message}`);
    out();
    out("2) Bob answers by the token flow (PROTOCOL.md §4: one handshake, then one request a message):");
    const reply = await demo.bobPm.pm.send({
      from: demo.bobSite.url,
      to: [demo.aliceSite.url],
      subject: "Re: Hello",
      content: "Hi Alice! This came by the token flow.",
      inReplyTo: first.message,
    });
    const replyDone = await settled(demo.bobPm.pm, reply.message);
    out(`   → ${replyDone.deliveries.map((d) => `${d.status}${d.error ? ` (${d.error})` : ""}`).join(", ")}: ${reply.message}`);
    out();
    out("3) Bob writes again: the standing token is reused, so it is a single deliver:");
    const again = await demo.bobPm.pm.send({
      from: demo.bobSite.url,
      to: [demo.aliceSite.url],
      content: "And one more, with no handshake.",
      inReplyTo: first.message,
    });
    const againDone = await settled(demo.bobPm.pm, again.message);
    out(`   → ${againDone.deliveries.map((d) => `${d.status}${d.error ? ` (${d.error})` : ""}`).join(", ")}: ${again.message}`);
    ok = [firstDone, replyDone, againDone].every((m) => m.deliveries.every((d) => d.status === "delivered"));
    out();
    out("Inboxes:");
    for (const [who, pm] of [
      ["Bob", demo.bobPm.pm],
      ["Alice", demo.alicePm.pm],
    ] as const) {
      for (const m of await pm.inbox()) out(`  ${who} got from ${tracer.label(m.sender)}: ${m.name ? `[${m.name}] ` : ""}${m.content}`);
    }
  } catch (error) {
    ok = false;
    process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n`);
  }

  out();
  if (values.once) {
    await demo.close();
    if (!values.data) await rm(dataDir, { recursive: true, force: true });
    out(ok ? "demo: both flows delivered." : "demo: a delivery failed.");
    return ok ? 0 : 1;
  }
  out("Your inboxes (sign in with the site's address; its IndieAuth server asks you to Approve):");
  out(`  ${demo.inboxes.alice}   Alice's inbox: sign in as ${demo.aliceSite.url}`);
  out(`  ${demo.inboxes.bob}   Bob's inbox: sign in as ${demo.bobSite.url}`);
  out(`  (${demo.auth.url} is the demo's IndieAuth authorization server; it asks for no password.)`);
  out();
  out("Write from a Micropub app (Quill, Indigenous, micropub-helper): sign in to it with a DM profile URL;");
  out("the people you pick in its syndication list get the post as a private message:");
  out(`  ${demo.inboxes.alice}me/   Alice's DM profile URL`);
  out(`  ${demo.inboxes.bob}me/   Bob's DM profile URL`);
  out();
  out("Look around (Ctrl-C to stop):");
  out(`  ${demo.aliceSite.url}   Alice's page (view source: rel=pm)`);
  out(`  curl -i ${demo.bobSite.url}   Bob's page (the Link header)`);
  out(`  curl -H 'Authorization: Bearer ${demo.bobPm.ownerToken}' ${demo.bobPm.url}api/inbox`);
  out(`  INDIEPM_SERVER=${demo.alicePm.url} INDIEPM_TOKEN=${demo.alicePm.ownerToken} pnpm exec indiepm inbox`);
  out(
    `  INDIEPM_SERVER=${demo.alicePm.url} INDIEPM_TOKEN=${demo.alicePm.ownerToken} pnpm exec indiepm send --from ${demo.aliceSite.url} --to ${demo.bobSite.url} "Hello again"`,
  );
  const stop = async () => {
    await demo.close();
    if (!values.data) await rm(dataDir, { recursive: true, force: true });
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return await new Promise<number>(() => {});
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
