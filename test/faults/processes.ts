/**
 * Real `indiepm serve` processes for fault tests: started from the built bin, killed
 * with SIGKILL (no clean shutdown, no compaction), restarted on the same port with the
 * same data folder — or, with `database`, the same PostgreSQL database (test/cluster).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../../packages/cli/bin/indiepm.js", import.meta.url));
export const TOKEN = "fault-test-owner-token-0123456789";

/** A free loopback port (listen on 0, close, reuse the number): the one test-support keeps. */
export { closedPort as freePort } from "@indiepm/test-support";

/** Whether the CLI is built (`tsc -b`): the processes run `packages/cli/dist`. */
export const CLI_BUILT = existsSync(fileURLToPath(new URL("../../packages/cli/dist/main.js", import.meta.url)));

/** What a `ServeProcess` runs with besides its port, folder and site. */
export interface ServeOptions {
  /** `--database URL`: the state lives in PostgreSQL and no `--data` is passed (the folder's parent only holds the config file). */
  database?: string;
  /** `--public-url`: the endpoint the site names (a proxy in front of several processes); default the process's own URL. */
  publicUrl?: string;
  /** Engine settings merged over the fault tests' `retry` and `rateLimits` in the config file. */
  config?: Record<string, unknown>;
  /** A file every start appends the process's whole stderr to. */
  logFile?: string;
}

export class ServeProcess {
  child: ChildProcess | undefined;
  readonly url: string;
  starts = 0;
  /** The last 4,000 characters the process wrote on stderr. */
  stderr = "";

  constructor(
    readonly port: number,
    readonly dataDir: string,
    readonly site: string,
    readonly options: ServeOptions = {},
  ) {
    this.url = `http://127.0.0.1:${port}/`;
  }

  async start(): Promise<void> {
    const config = join(this.dataDir, "..", `config-${this.port}.json`);
    await writeFile(
      config,
      JSON.stringify({
        retry: { baseDelayMs: 100, maxDelayMs: 1_000, handshakeTimeoutMs: 3_000, giveUpAfterMs: 600_000 },
        rateLimits: { perSenderPerMinute: 100_000, perClientPerMinute: 100_000 },
        ...this.options.config,
      }),
    );
    const { database, publicUrl } = this.options;
    const store = database === undefined ? ["--data", this.dataDir] : ["--database", database];
    const child = spawn(
      process.execPath,
      [
        BIN,
        "serve",
        "--dev",
        "--port",
        String(this.port),
        ...store,
        "--site",
        this.site,
        ...(publicUrl === undefined ? [] : ["--public-url", publicUrl]),
        "--config",
        config,
      ],
      {
        env: { ...process.env, INDIEPM_TOKEN: TOKEN },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    this.child = child;
    this.stderr = "";
    child.stderr!.on("data", (c) => (this.stderr = (this.stderr + c).slice(-4000)));
    if (this.options.logFile) child.stderr!.pipe(createWriteStream(this.options.logFile, { flags: "a" }));
    await new Promise<void>((resolve, reject) => {
      let out = "";
      const onData = (chunk: Buffer) => {
        out += chunk;
        if (out.includes("indiepm listening on")) {
          child.stdout!.off("data", onData);
          resolve();
        }
      };
      child.stdout!.on("data", onData);
      child.once("exit", (code) => reject(new Error(`indiepm serve exited ${code} before listening: ${this.stderr}`)));
    });
    child.stdout!.resume();
    this.starts++;
  }

  /** SIGKILL: the process gets no chance to flush, compact or unlock. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  }

  async api<T>(path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
    return ownerApi<T>(this.url, path, init);
  }

  /** `GET /health`'s status (CLI.md), or 0 when nothing answers. */
  async health(): Promise<number> {
    try {
      return (await fetch(new URL("health", this.url), { signal: AbortSignal.timeout(5_000) })).status;
    } catch {
      return 0;
    }
  }
}

/** A call to the owner API at `base` (a process, or a proxy in front of several) with the fault tests' owner token. */
export async function ownerApi<T>(base: string, path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const res = await fetch(new URL(path, base), {
    ...init,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", ...(init.headers ?? {}) },
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: (await res.json()) as T };
}
