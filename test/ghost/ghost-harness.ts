/**
 * A real Ghost on loopback for real-ghost.test.ts: boots an install from
 * install-ghost.mjs in a fresh folder with SQLite (production mode, as ghost-cli runs
 * it: config.production.json in the working folder), then does what an owner does in
 * Ghost Admin — creates the owner, signs in, reads the staff access token — through
 * Ghost's own Admin API.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { cp, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { closedPort, tempDir } from "@indiepm/test-support";

export interface RunningGhost {
  url: string;
  origin: string;
  dir: string;
  /** Seconds from spawn to the Admin API answering. */
  bootSeconds: number;
  /** stdout and stderr so far (for failures). */
  log(): string;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Boots Ghost from `installDir` in a new folder; resolves once its Admin API answers. */
export async function bootGhost(installDir: string): Promise<RunningGhost> {
  const started = Date.now();
  const port = await closedPort();
  const folder = await tempDir("indiepm-ghost-site-");
  const dir = folder.path;
  const url = `http://127.0.0.1:${port}/`;
  await cp(join(installDir, "content"), join(dir, "content"), { recursive: true });
  // ghost-cli's layout: Ghost finds its package.json through the `current` link.
  await symlink(installDir, join(dir, "current"), "dir");
  const config = {
    url,
    server: { host: "127.0.0.1", port, shutdownTimeout: 2_000 },
    database: { client: "sqlite3", connection: { filename: join(dir, "content", "data", "ghost.db") }, useNullAsDefault: true, debug: false },
    mail: { transport: "stub" },
    logging: { level: "warn", transports: ["stdout"] },
    paths: { contentPath: join(dir, "content") },
    security: { staffDeviceVerification: false },
    // Nothing outside this machine: no update check, Gravatar, pings or analytics.
    privacy: { useTinfoil: true },
    updateCheck: { enabled: false },
  };
  await writeFile(join(dir, "config.production.json"), JSON.stringify(config, null, 2));

  let output = "";
  const child: ChildProcess = spawn(process.execPath, [join(dir, "current", "index.js")], {
    cwd: dir,
    env: { ...process.env, NODE_ENV: "production" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const killed = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
      if (!killed) {
        child.kill("SIGKILL");
        await exited;
      }
    }
    await folder.remove();
  };

  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`Ghost exited ${child.exitCode} while booting:\n${output.slice(-4000)}`);
    }
    if (Date.now() - started > 180_000) {
      await stop();
      throw new Error(`Ghost did not answer within 180 s:\n${output.slice(-4000)}`);
    }
    const answer = await fetch(`${url}ghost/api/admin/authentication/setup/`).catch(() => undefined);
    if (answer?.ok) break;
    await sleep(250);
  }
  return { url, origin: url.slice(0, -1), dir, bootSeconds: (Date.now() - started) / 1000, log: () => output, stop };
}

/** A signed-in owner's session in Ghost Admin (cookie), as the browser has it. */
export interface GhostSession {
  api(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }>;
}

async function call(
  ghost: RunningGhost,
  method: string,
  path: string,
  body: unknown,
  cookie?: string,
): Promise<{ status: number; json: any; headers: Headers }> {
  const response = await fetch(`${ghost.url}ghost/api/admin/${path}`, {
    method,
    headers: {
      origin: ghost.origin,
      "accept-version": "v5.0",
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(cookie ? { cookie } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let json: unknown = text;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    // Some answers are plain text ("Created").
  }
  return { status: response.status, json, headers: response.headers };
}

/** Creates the owner (Ghost's setup screen) and signs in. */
export async function createOwner(
  ghost: RunningGhost,
  owner = { name: "Ghost Owner", email: "owner@example.com", password: "Kq8zT2vLw9mRp4xY" },
): Promise<GhostSession> {
  const setup = await call(ghost, "POST", "authentication/setup/", { setup: [{ ...owner, blogTitle: "indiepm on Ghost" }] });
  if (setup.status !== 201) throw new Error(`Ghost setup answered ${setup.status}: ${JSON.stringify(setup.json)}`);
  const session = await call(ghost, "POST", "session/", { username: owner.email, password: owner.password });
  if (session.status !== 201) throw new Error(`Ghost sign-in answered ${session.status}: ${JSON.stringify(session.json)}`);
  const cookie = session.headers
    .getSetCookie()
    .map((line) => line.split(";")[0])
    .join("; ");
  return {
    api: async (method, path, body) => {
      const { status, json } = await call(ghost, method, path, body, cookie);
      return { status, json };
    },
  };
}

/** Settings → Staff → your profile → Staff access token. */
export async function staffToken(session: GhostSession): Promise<string> {
  const { status, json } = await session.api("GET", "users/me/token/");
  if (status !== 200) throw new Error(`users/me/token answered ${status}: ${JSON.stringify(json)}`);
  return `${json.apiKey.id}:${json.apiKey.secret}`;
}

/** Settings → Integrations → Add custom integration: its Admin API key. */
export async function integrationKey(session: GhostSession): Promise<string> {
  const { status, json } = await session.api("POST", "integrations/?include=api_keys", { integrations: [{ name: "indiepm test" }] });
  if (status !== 201) throw new Error(`integrations answered ${status}: ${JSON.stringify(json)}`);
  const key = (json.integrations[0].api_keys as Array<{ type: string; id: string; secret: string }>).find((k) => k.type === "admin");
  if (!key) throw new Error("the integration has no Admin API key");
  // Ghost's API shows an Admin API key's secret as the whole key, ID:SECRET, as its Admin UI does.
  return key.secret.includes(":") ? key.secret : `${key.id}:${key.secret}`;
}

/** Publishes a post; resolves with its URL. */
export async function publishPost(session: GhostSession, title: string, html: string): Promise<string> {
  const { status, json } = await session.api("POST", "posts/?source=html", { posts: [{ title, html, status: "published" }] });
  if (status !== 201) throw new Error(`posts answered ${status}: ${JSON.stringify(json)}`);
  return json.posts[0].url as string;
}
