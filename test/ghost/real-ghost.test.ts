/**
 * Issue 6 end to end, against a real Ghost 5.130.6 (`pnpm test:ghost`; not in `pnpm
 * test`: the first run installs Ghost from npm into ~/.cache/indiepm-ghost, minutes).
 *
 * Ghost boots on loopback with SQLite; its owner is created through Ghost's setup API
 * and signs in; the staff access token is read as the profile screen shows it. Then the
 * built `indiepm` bin runs `ghost setup` against it, core's discovery (PROTOCOL.md §1)
 * finds the endpoint on the home page and on a post, and a message sent to the Ghost
 * site arrives in its indiepm server's inbox.
 */
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createHttpClient, discoverEndpoint, type ClosableHttpClient } from "@indiepm/core";
import { startLoopbackServer, tempDir } from "@indiepm/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootGhost, createOwner, integrationKey, publishPost, staffToken, type GhostSession, type RunningGhost } from "./ghost-harness.js";
import { GHOST_VERSION, installGhost } from "./install-ghost.mjs";

const BIN = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "packages", "cli", "bin", "indiepm.js");

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built bin to its end. */
function indiepm(args: string[], env: Record<string, string> = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** `indiepm serve --dev` for `site`; resolves with its endpoint URL once it listens. */
async function serve(site: string, token: string, cleanups: Array<() => Promise<void>>): Promise<string> {
  const data = await tempDir("indiepm-ghost-pm-");
  const child = spawn(process.execPath, [BIN, "serve", "--dev", "--port", "0", "--site", site, "--data", data.path], {
    env: { ...process.env, INDIEPM_TOKEN: token },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  cleanups.push(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
    await data.remove();
  });
  const line = await new Promise<string>((resolve, reject) => {
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes("\n")) resolve(stdout.split("\n")[0]!);
    });
    child.once("exit", (code) => reject(new Error(`indiepm serve exited ${code}: ${stderr}`)));
  });
  const match = /^indiepm listening on (\S+)$/.exec(line);
  if (!match) throw new Error(`unexpected first line: ${line}`);
  return match[1]!;
}

const timings: Record<string, number> = {};
const cleanups: Array<() => Promise<void>> = [];
let ghost: RunningGhost;
let session: GhostSession;
let token: string;
let postUrl: string;
let http: ClosableHttpClient;
/** The Ghost site's indiepm server (E_R) and the sender's (E_S). */
let ghostEndpoint: string;
let senderEndpoint: string;
let senderSite: string;
const GHOST_PM_TOKEN = "ghost-owner-token-for-tests-0123456789";
const SENDER_PM_TOKEN = "sender-owner-token-for-tests-0123456789";
/** What the owner already had in Settings → Code injection → Site header. */
const OWNER_HEAD = '<!-- Plausible -->\n<script defer data-domain="blog.example" src="/js/script.js"></script>\n';

async function codeInjectionHead(): Promise<string> {
  const { json } = await session.api("GET", "settings/");
  return (json.settings as Array<{ key: string; value: string | null }>).find((s) => s.key === "codeinjection_head")!.value ?? "";
}

beforeAll(async () => {
  let started = Date.now();
  const install = await installGhost({ log: (text) => void process.stderr.write(text) });
  timings.installSeconds = install.installed ? install.seconds : 0;
  timings.installReused = install.installed ? 0 : 1;

  ghost = await bootGhost(install.dir);
  cleanups.push(() => ghost.stop());
  timings.bootSeconds = ghost.bootSeconds;

  started = Date.now();
  session = await createOwner(ghost);
  token = await staffToken(session);
  postUrl = await publishPost(session, "Hello from Ghost", "<p>Write to me privately: this site takes rel=pm messages.</p>");
  const put = await session.api("PUT", "settings/", { settings: [{ key: "codeinjection_head", value: OWNER_HEAD }] });
  expect(put.status).toBe(200);
  timings.ownerSeconds = (Date.now() - started) / 1000;

  // The seed's hosts: the Ghost site (R) with its indiepm server (E_R), and a sender
  // site (S) whose page names its own indiepm server (E_S).
  ghostEndpoint = await serve(ghost.url, GHOST_PM_TOKEN, cleanups);
  const senderPage = await startLoopbackServer((_req, res) => {
    res.setHeader("content-type", "text/html; charset=utf-8");
    res.end(`<!doctype html><title>Alice</title><link rel="pm" href="${senderEndpoint}">`);
  });
  cleanups.push(senderPage.close);
  senderSite = senderPage.url;
  senderEndpoint = await serve(senderSite, SENDER_PM_TOKEN, cleanups);
  http = createHttpClient({ dev: true });
  cleanups.push(() => http.close());
});

afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  console.log(`Ghost ${GHOST_VERSION} timings: ${JSON.stringify(timings)}`);
});

describe(`a real Ghost ${GHOST_VERSION}`, () => {
  it("refuses an integration's Admin API key (501); setup explains and prints the snippet", async () => {
    const key = await integrationKey(session);
    const run = await indiepm(["ghost", "setup", "--dev", "--url", ghost.url, "--staff-token", key, "--endpoint", ghostEndpoint]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe(`<link rel="pm" href="${ghostEndpoint}">\n`);
    expect(run.stderr).toMatch(
      /^indiepm ghost setup: Ghost lets a custom integration's Admin API key only read settings \(it answers 501 to any change\).*by hand\.\n$/,
    );
    expect(await codeInjectionHead()).toBe(OWNER_HEAD);
  });

  it("--dry-run shows the change and writes nothing", async () => {
    const run = await indiepm(["ghost", "setup", "--dev", "--dry-run", "--url", ghost.url, "--staff-token", token, "--endpoint", ghostEndpoint]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`+ <link rel="pm" href="${ghostEndpoint}">`);
    expect(await codeInjectionHead()).toBe(OWNER_HEAD);
  });

  it("setup merges the link into the site-wide code injection and proves it live", async () => {
    const started = Date.now();
    const run = await indiepm(["ghost", "setup", "--dev", "--url", ghost.url, "--staff-token", token, "--endpoint", ghostEndpoint]);
    timings.setupSeconds = (Date.now() - started) / 1000;
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`Checked: ${ghost.url} names the pm endpoint ${ghostEndpoint}`);
    expect(await codeInjectionHead()).toBe(`${OWNER_HEAD}<link rel="pm" href="${ghostEndpoint}">\n`);
  });

  it("core's discovery finds the endpoint on the home page and on a post", async () => {
    for (const page of [ghost.url, postUrl]) {
      const found = await discoverEndpoint(page, http, { dev: true });
      expect(found, page).toMatchObject({ endpoint: ghostEndpoint, source: "html" });
    }
  });

  it("a second run changes nothing", async () => {
    const run = await indiepm(["ghost", "setup", "--dev", "--json", "--url", ghost.url, "--staff-token", token, "--endpoint", ghostEndpoint]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ action: "unchanged", changed: false, written: false, proof: { endpoint: ghostEndpoint } });
    expect(await codeInjectionHead()).toBe(`${OWNER_HEAD}<link rel="pm" href="${ghostEndpoint}">\n`);
  });

  it("a message sent to the Ghost site arrives in its indiepm server's inbox", async () => {
    const started = Date.now();
    const send = await indiepm(["send", "--server", senderEndpoint, "--from", senderSite, "--to", ghost.url, "--json", "Hello, Ghost! A private note."], {
      INDIEPM_TOKEN: SENDER_PM_TOKEN,
    });
    timings.sendSeconds = (Date.now() - started) / 1000;
    expect(send.stderr.split("\n").filter((l) => /error|fail/i.test(l))).toEqual([]);
    expect(send.code).toBe(0);
    expect(JSON.parse(send.stdout).deliveries).toEqual([{ recipient: ghost.url, status: "delivered" }]);

    const inbox = await indiepm(["inbox", "--server", ghostEndpoint, "--json"], { INDIEPM_TOKEN: GHOST_PM_TOKEN });
    expect(inbox.code).toBe(0);
    expect(JSON.parse(inbox.stdout)).toEqual([expect.objectContaining({ sender: senderSite, recipient: ghost.url, content: "Hello, Ghost! A private note." })]);
  });

  it("a changed endpoint replaces the link; --remove takes it out and gives back the owner's code injection", async () => {
    const moved = `${ghostEndpoint}moved/`;
    const replace = await indiepm(["ghost", "setup", "--dev", "--json", "--url", ghost.url, "--staff-token", token, "--endpoint", moved]);
    expect(JSON.parse(replace.stdout)).toMatchObject({ action: "replaced", proof: { endpoint: moved } });
    expect(await codeInjectionHead()).toBe(`${OWNER_HEAD}<link rel="pm" href="${moved}">\n`);

    const remove = await indiepm(["ghost", "setup", "--dev", "--url", ghost.url, "--staff-token", token, "--remove"]);
    expect(remove.code).toBe(0);
    expect(remove.stdout).toContain(`Checked: ${ghost.url} names no pm endpoint.`);
    expect(await codeInjectionHead()).toBe(OWNER_HEAD);
    expect((await discoverEndpoint(postUrl, http, { dev: true })).endpoint).toBeNull();
  });
});
