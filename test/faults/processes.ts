/**
 * Real `indiepm serve` processes for fault tests: started from the built bin, killed
 * with SIGKILL (no clean shutdown, no compaction), restarted on the same port with the
 * same data folder.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../../packages/cli/bin/indiepm.js", import.meta.url));
export const TOKEN = "fault-test-owner-token-0123456789";

/** A free loopback port (listen on 0, close, reuse the number): the one test-support keeps. */
export { closedPort as freePort } from "@indiepm/test-support";

export class ServeProcess {
  child: ChildProcess | undefined;
  readonly url: string;
  starts = 0;

  constructor(
    readonly port: number,
    readonly dataDir: string,
    readonly site: string,
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
      }),
    );
    const child = spawn(
      process.execPath,
      [BIN, "serve", "--dev", "--port", String(this.port), "--data", this.dataDir, "--site", this.site, "--config", config],
      {
        env: { ...process.env, INDIEPM_TOKEN: TOKEN },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    this.child = child;
    let stderr = "";
    child.stderr!.on("data", (c) => (stderr = (stderr + c).slice(-4000)));
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
      child.once("exit", (code) => reject(new Error(`indiepm serve exited ${code} before listening: ${stderr}`)));
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
    const res = await fetch(new URL(path, this.url), {
      ...init,
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json", ...(init.headers ?? {}) },
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.status, body: (await res.json()) as T };
  }
}
