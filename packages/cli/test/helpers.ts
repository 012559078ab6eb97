/** Shared by the CLI tests: running `main` in-process, spawning the built bin, tiny sites. */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir as freshDir, type TempDir } from "@indiepm/test-support";
import { main } from "../src/index.js";

export { closedPort, startLoopbackServer as tinyServer, type LoopbackServer as TinyServer } from "@indiepm/test-support";

const here = dirname(fileURLToPath(import.meta.url));
export const PACKAGE_DIR = join(here, "..");
export const REPO_DIR = join(PACKAGE_DIR, "..", "..");
export const BIN = join(PACKAGE_DIR, "bin", "indiepm.js");

export interface Outcome {
  code: number | null;
  signal?: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** `indiepm ARGV` in this process (fast; no build needed). */
export async function runMain(argv: string[], env: Record<string, string> = {}, cwd = process.cwd()): Promise<Outcome> {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), env, cwd });
  return { code, stdout, stderr };
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Builds the bin and what it loads (`tsc -b packages/cli`: its src project and the ones
 * it references, no test project) when `dist` is missing or older than the sources, so
 * the spawned bin runs today's code whether or not the test command built first.
 */
export function ensureBuilt(): void {
  const dist = join(PACKAGE_DIR, "dist", "main.js");
  const sources = ["cli", "core", "store-postgres"].map((name) => join(REPO_DIR, "packages", name, "src"));
  if (existsSync(dist) && statSync(dist).mtimeMs >= Math.max(...sources.map(newestMtime))) return;
  try {
    execFileSync(process.execPath, [join(REPO_DIR, "node_modules", "typescript", "bin", "tsc"), "-b", PACKAGE_DIR], { cwd: REPO_DIR, stdio: "pipe" });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`tsc -b ${PACKAGE_DIR} failed:\n${String(stdout ?? "")}${String(stderr ?? "")}`, { cause: error });
  }
}

/** The environment of a spawned bin: the test's, without the owner token, server or database unless given. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.INDIEPM_TOKEN;
  delete env.INDIEPM_SERVER;
  delete env.INDIEPM_DATABASE_URL;
  return { ...env, ...extra };
}

export interface Spawned {
  child: ChildProcess;
  /** Resolves with the first stdout line. */
  firstLine: Promise<string>;
  done: Promise<Outcome>;
}

/** Spawns the real built `indiepm` bin. */
export function spawnBin(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Spawned {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd, env: options.env ?? cleanEnv(), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let resolveLine!: (line: string) => void;
  const firstLine = new Promise<string>((resolve) => (resolveLine = resolve));
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    const end = stdout.indexOf("\n");
    if (end >= 0) resolveLine(stdout.slice(0, end));
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const done = new Promise<Outcome>((resolve) => {
    child.on("close", (code, signal) => {
      resolveLine(stdout);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, firstLine, done };
}

export async function runBin(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Outcome> {
  return spawnBin(args, options).done;
}

export function tempDir(): Promise<TempDir> {
  return freshDir("indiepm-cli-");
}
