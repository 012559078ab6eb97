/**
 * `indiepm send` keeps the engine's one recipient cap (core limits.ts `MAX_RECIPIENTS`, issue
 * 13 follow-up), through the owner API: more than 100 sites, each counted once, is refused
 * by the server before any of them is looked up, and the command prints its sentence on
 * stderr, nothing on stdout, and exits 1 (CLI.md: errors exit 1). The real built bin, for
 * `serve` and `send` alike; everyone's sites are paths on one loopback server that counts
 * every request.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanEnv, ensureBuilt, runBin, spawnBin, tempDir, tinyServer, type Spawned, type TinyServer } from "./helpers.js";

const TOKEN = "owner-token-for-tests-0123456789";
const ALICE = "http://127.0.0.1:7/alice/";

let dir: Awaited<ReturnType<typeof tempDir>>;
let serve: Spawned;
let server: string;
let sites: TinyServer;
let fetched: string[];
beforeAll(async () => {
  ensureBuilt();
  dir = await tempDir();
  fetched = [];
  sites = await tinyServer((req, res) => {
    fetched.push(req.url!);
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "max-age=3600" });
    res.end('<!doctype html><title>Someone</title><link rel="pm" href="http://127.0.0.1:9/">');
  });
  serve = spawnBin(["serve", "--port", "0", "--dev", "--data", join(dir.path, "data"), "--site", ALICE], {
    cwd: dir.path,
    env: cleanEnv({ INDIEPM_TOKEN: TOKEN }),
  });
  server = /^indiepm listening on (\S+)$/.exec(await serve.firstLine)![1]!;
}, 180_000);
afterAll(async () => {
  serve?.child.kill("SIGTERM");
  await serve?.done;
  await sites?.close();
  await dir?.remove();
});

/** `indiepm send` from alice to `to`, with the server and token from the environment. */
const send = (to: string[], ...flags: string[]) =>
  runBin(["send", "--from", ALICE, ...to.flatMap((t) => ["--to", t]), ...flags, "hi all"], {
    cwd: dir.path,
    env: cleanEnv({ INDIEPM_SERVER: server, INDIEPM_TOKEN: TOKEN }),
  });
const people = (n: number) => Array.from({ length: n }, (_, i) => `${sites.url}p${i}/`);

describe("indiepm send names at most 100 sites", () => {
  it("101: the server's sentence on stderr, nothing on stdout, exit 1, nobody looked up", async () => {
    const { code, stdout, stderr } = await send(people(101), "--no-wait", "--json");
    expect(stderr).toBe("indiepm send: the server refused: A message goes to at most 100 people; this one names 101 (invalid_request).\n");
    expect(stdout).toBe("");
    expect(code).toBe(1);
    expect(fetched).toEqual([]);
    const outbox = await runBin(["outbox", "--json"], { cwd: dir.path, env: cleanEnv({ INDIEPM_SERVER: server, INDIEPM_TOKEN: TOKEN }) });
    expect(JSON.parse(outbox.stdout)).toEqual([]);
  });

  it("100, each also written in another spelling of the same site: taken (exit 0 with --no-wait), one delivery each", async () => {
    const to = people(100).flatMap((site) => [site, site.replace(/^http:/, "HTTP:")]);
    const { code, stdout, stderr } = await send(to, "--no-wait", "--json");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as { deliveries: unknown[] }).deliveries).toHaveLength(100);
  });
});
