#!/usr/bin/env node
/**
 * Installs a real Ghost from npm into a cache folder, the recipe that works with Node 20
 * (Ghost 6 needs Node 22): `npm pack`, unpack, drop yarn.lock and devDependencies, turn
 * yarn's `resolutions` into npm `overrides`, then `npm install --omit=dev
 * --legacy-peer-deps`. Install scripts are skipped but sqlite3's (`npm rebuild sqlite3`
 * compiles it from source: a few minutes): the others are re2 (another 7 minutes of
 * C++ on two cores, and optional: its users fall back to RegExp), sharp's check and
 * dtrace-provider (optional). A finished install leaves a stamp file and is reused as it is.
 *
 * Run directly (`node test/ghost/install-ghost.mjs`) to fill the cache ahead of
 * `pnpm test:ghost`.
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const GHOST_VERSION = "5.130.6";

/** `~/.cache/indiepm-ghost/VERSION`, or `$INDIEPM_GHOST_CACHE/VERSION`. */
export function ghostCacheDir(version = GHOST_VERSION) {
  const root = process.env.INDIEPM_GHOST_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "indiepm-ghost");
  return join(root, version);
}

/** Runs a step; its output is kept for the error message only, `log` gets one line per step. */
function run(command, args, cwd, env, log) {
  log?.(`indiepm: ${command} ${args.join(" ")}\n`);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let tail = "";
    const keep = (chunk) => {
      tail = (tail + chunk.toString()).slice(-4000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(" ")} exited ${code}:\n${tail}`))));
  });
}

/** Node's own headers, so node-gyp compiles sqlite3 without downloading them. */
function nodeHeadersDir() {
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, "include", "node", "node_version.h")) ? prefix : undefined;
}

/**
 * Installs Ghost `version` into `dir` unless a finished install is there.
 * @returns {Promise<{dir: string, installed: boolean, seconds: number}>}
 */
export async function installGhost({ version = GHOST_VERSION, dir = ghostCacheDir(version), log } = {}) {
  const started = Date.now();
  const stamp = join(dir, ".indiepm-installed");
  if (existsSync(stamp)) return { dir, installed: false, seconds: 0 };

  await rm(dir, { recursive: true, force: true });
  const work = `${dir}.partial`;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const env = { ...process.env, npm_config_update_notifier: "false", npm_config_fund: "false", npm_config_audit: "false" };
  const headers = nodeHeadersDir();
  if (headers) env.npm_config_nodedir = headers;

  log?.(`indiepm: installing Ghost ${version} into ${dir} (minutes: sqlite3 compiles)\n`);
  await run("npm", ["pack", `ghost@${version}`, "--pack-destination", work, "--loglevel=error"], work, env, log);
  const tarball = (await readdir(work)).find((name) => name.endsWith(".tgz"));
  if (!tarball) throw new Error(`npm pack ghost@${version} left no tarball in ${work}`);
  await run("tar", ["xzf", tarball], work, env, log);
  const app = join(work, "package");

  const pkgPath = join(app, "package.json");
  const pkg = JSON.parse(await readFile(pkgPath, "utf8"));
  delete pkg.devDependencies;
  if (pkg.resolutions) {
    pkg.overrides = { ...pkg.overrides, ...pkg.resolutions };
    delete pkg.resolutions;
  }
  // Build and test scripts are yarn's and need the devDependencies just dropped.
  delete pkg.scripts;
  await writeFile(pkgPath, `${JSON.stringify(pkg, null, 2)}\n`);
  await rm(join(app, "yarn.lock"), { force: true });

  await run("npm", ["install", "--omit=dev", "--legacy-peer-deps", "--no-audit", "--no-fund", "--ignore-scripts"], app, env, log);
  await run("npm", ["rebuild", "sqlite3"], app, env, log);
  await writeFile(join(app, ".indiepm-installed"), `${new Date().toISOString()}\n`);
  await rename(app, dir);
  await rm(work, { recursive: true, force: true });
  const seconds = Math.round((Date.now() - started) / 1000);
  log?.(`indiepm: Ghost ${version} installed in ${seconds} s\n`);
  return { dir, installed: true, seconds };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = await installGhost({ log: (text) => process.stderr.write(text) });
  console.log(
    result.installed ? `Ghost ${GHOST_VERSION} installed in ${result.dir} in ${result.seconds} s` : `Ghost ${GHOST_VERSION} already in ${result.dir}`,
  );
}
