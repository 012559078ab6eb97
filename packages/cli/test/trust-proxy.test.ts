/**
 * Issue 9 item 11 on the real built bin behind a real nginx on loopback: behind a proxy
 * every connection comes from the proxy, so the §6 per-client rate limit counted all
 * clients as one. With `serve --trust-proxy` the client is the rightmost untrusted entry
 * of X-Forwarded-For; a client cannot choose its address by writing one itself; `true`
 * is refused at start. Also issue 9 item 10: a restarted container (same pid) finds its
 * previous life's LOCK and starts. Skipped where nginx is not installed.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { writeFile } from "node:fs/promises";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BIN, cleanEnv, ensureBuilt, runBin, spawnBin, tempDir, tinyServer, type Spawned, type TinyServer } from "./helpers.js";

const HAS_NGINX = spawnSync("nginx", ["-v"], { stdio: "ignore" }).status === 0;
/** A non-loopback IPv4 address of this machine: a client the `loopback` setting does not trust. */
const OUTSIDE_ADDRESS = Object.values(networkInterfaces())
  .flat()
  .find((a) => a !== undefined && a.family === "IPv4" && !a.internal)?.address;

const TOKEN = "owner-token-for-tests-0123456789";
const SITE = "http://127.0.0.1:7/";
/** The per-client limit of these servers (per minute), small so the rows can pass it. */
const PER_CLIENT = 3;
const WARNING = /A request came through a proxy \(it has X-Forwarded-For\) but trustProxy \(indiepm serve --trust-proxy\) is off/g;

let dir: Awaited<ReturnType<typeof tempDir>>;
let sender: TinyServer;
let config: string;
beforeAll(async () => {
  ensureBuilt();
  dir = await tempDir();
  // The sender's site: a notify makes the receiver fetch it; a 404 ends that quickly.
  sender = await tinyServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  config = join(dir.path, "limits.json");
  await writeFile(config, JSON.stringify({ rateLimits: { perClientPerMinute: PER_CLIENT, perSenderPerMinute: 1_000 } }));
}, 180_000);
afterAll(async () => {
  await sender?.close();
  await dir?.remove();
});

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function freePort(host = "127.0.0.1"): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `indiepm serve` with small limits; resolves with its URL once it listens. */
async function serve(args: string[], host = "127.0.0.1"): Promise<{ url: string; run: Spawned }> {
  const data = join(dir.path, `data-${Math.random().toString(36).slice(2)}`);
  const run = spawnBin(["serve", "--dev", "--host", host, "--port", "0", "--data", data, "--site", SITE, "--config", config, ...args], {
    cwd: dir.path,
    env: cleanEnv({ INDIEPM_TOKEN: TOKEN }),
  });
  cleanups.push(async () => {
    if (run.child.exitCode === null) {
      run.child.kill("SIGTERM");
      await run.done;
    }
  });
  const url = /^indiepm listening on (\S+)$/.exec(await run.firstLine)?.[1];
  if (!url) throw new Error(`serve did not start: ${(await run.done).stderr}`);
  return { url, run };
}

/** A real nginx on loopback in front of `upstream`, with the location the `ghost proxy` snippet writes. */
async function nginxInFront(upstream: string): Promise<string> {
  const port = await freePort();
  const conf = join(dir.path, `nginx-${port}.conf`);
  const d = dir.path;
  await writeFile(
    conf,
    `daemon off; master_process off; pid ${d}/nginx-${port}.pid; error_log ${d}/nginx-${port}.log;
events {}
http {
  access_log off; client_body_temp_path ${d}/body; proxy_temp_path ${d}/proxy;
  fastcgi_temp_path ${d}/fastcgi; uwsgi_temp_path ${d}/uwsgi; scgi_temp_path ${d}/scgi;
  server {
    listen 127.0.0.1:${port};
    location ^~ / {
      proxy_pass ${upstream.replace(/\/$/, "")};
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
  }
}
`,
  );
  const child: ChildProcess = spawn("nginx", ["-c", conf, "-e", join(d, `nginx-${port}.log`)], { stdio: "ignore" });
  cleanups.push(async () => {
    if (child.exitCode === null) {
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    }
  });
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited ${child.exitCode}`);
    if (
      await fetch(url).then(
        (r) => r.ok,
        () => false,
      )
    )
      return url;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("nginx did not start");
}

/** A §4 notify (rate limited per client, §6) from `localAddress`, with an X-Forwarded-For of the client's choosing. */
function notify(url: string, options: { forwardedFor?: string; localAddress?: string } = {}): Promise<number> {
  const body = new URLSearchParams({ action: "notify", sender: sender.url, recipient: SITE, message: `urn:uuid:${crypto.randomUUID()}` }).toString();
  const headers: Record<string, string | number> = { "content-type": "application/x-www-form-urlencoded", "content-length": Buffer.byteLength(body) };
  if (options.forwardedFor !== undefined) headers["x-forwarded-for"] = options.forwardedFor;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", headers, ...(options.localAddress ? { localAddress: options.localAddress } : {}) }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(body);
  });
}

const accepted = (n: number) => Array<number>(n).fill(202);

describe.skipIf(!HAS_NGINX)("serve --trust-proxy behind a real nginx", () => {
  it("--trust-proxy loopback: two clients with different X-Forwarded-For are limited separately", async () => {
    const { url, run } = await serve(["--trust-proxy", "loopback"]);
    const proxy = await nginxInFront(url);
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i <= PER_CLIENT; i++) a.push(await notify(proxy, { forwardedFor: "203.0.113.1" }));
    for (let i = 0; i < PER_CLIENT; i++) b.push(await notify(proxy, { forwardedFor: "203.0.113.2" }));
    expect(a).toEqual([...accepted(PER_CLIENT), 429]);
    expect(b).toEqual(accepted(PER_CLIENT));
    run.child.kill("SIGTERM");
    expect((await run.done).stderr).not.toMatch(WARNING);
  });

  it("without --trust-proxy: the same clients are limited together (all are nginx), and the log warns once", async () => {
    const { url, run } = await serve([]);
    const proxy = await nginxInFront(url);
    const answers: number[] = [];
    for (let i = 0; i <= PER_CLIENT; i++) answers.push(await notify(proxy, { forwardedFor: i % 2 === 0 ? "203.0.113.1" : "203.0.113.2" }));
    expect(answers).toEqual([...accepted(PER_CLIENT), 429]);
    run.child.kill("SIGTERM");
    const { stderr } = await run.done;
    expect(stderr.match(WARNING)).toHaveLength(1);
    expect(stderr).toMatch(/set trustProxy \(indiepm serve --trust-proxy\) to a number of proxy hops/);
  });

  it("--trust-proxy 127.0.0.1: a client's own X-Forwarded-For is ignored; the address nginx appended counts", async () => {
    const { url } = await serve(["--trust-proxy", "127.0.0.1"]);
    const proxy = await nginxInFront(url);
    // The client connects to nginx from 127.0.0.2 and claims a new address every time.
    const answers: number[] = [];
    for (let i = 0; i <= PER_CLIENT; i++) answers.push(await notify(proxy, { localAddress: "127.0.0.2", forwardedFor: `198.51.100.${i + 1}` }));
    expect(answers).toEqual([...accepted(PER_CLIENT), 429]);
    // Another client behind the same nginx has its own count.
    expect(await notify(proxy, { localAddress: "127.0.0.3" })).toBe(202);
  });
});

describe("serve --trust-proxy", () => {
  it.skipIf(OUTSIDE_ADDRESS === undefined)("an untrusted client's spoofed X-Forwarded-For is ignored (it is not the loopback proxy)", async () => {
    const { url } = await serve(["--trust-proxy", "loopback"], OUTSIDE_ADDRESS);
    const answers: number[] = [];
    for (let i = 0; i <= PER_CLIENT; i++) answers.push(await notify(url, { localAddress: OUTSIDE_ADDRESS!, forwardedFor: `198.51.100.${i + 1}` }));
    expect(answers).toEqual([...accepted(PER_CLIENT), 429]);
  });

  it("--trust-proxy true is refused at start: exit 2 and one sentence naming the flag and the fix", async () => {
    const { code, stdout, stderr } = await runBin(["serve", "--dev", "--port", "0", "--data", join(dir.path, "never"), "--trust-proxy", "true"], {
      cwd: dir.path,
      env: cleanEnv({ INDIEPM_TOKEN: TOKEN }),
    });
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toMatch(
      /^indiepm serve: --trust-proxy is true, which trusts every X-Forwarded-For entry and so lets any client choose its own address for the rate limits; set it to a number of proxy hops \(1 for one proxy on this host\) or the proxy's addresses \(loopback, or a list such as 10\.0\.0\.0\/8\)\.\n$/,
    );
  });

  it("trustProxy: true in the config file is refused the same way, naming the key", async () => {
    const file = join(dir.path, "permissive.json");
    await writeFile(file, JSON.stringify({ trustProxy: true }));
    const { code, stderr } = await runBin(["serve", "--dev", "--port", "0", "--config", file], { cwd: dir.path, env: cleanEnv({ INDIEPM_TOKEN: TOKEN }) });
    expect(code).toBe(2);
    expect(stderr).toMatch(/^indiepm serve: `trustProxy` in .*permissive\.json is true, which trusts every X-Forwarded-For entry/);
    expect(stderr.trim().split("\n")).toHaveLength(1);
  });

  it("a wrong value is refused naming it", async () => {
    const { code, stderr } = await runBin(["serve", "--dev", "--port", "0", "--trust-proxy", "proxy.example"], {
      cwd: dir.path,
      env: cleanEnv({ INDIEPM_TOKEN: TOKEN }),
    });
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /^indiepm serve: --trust-proxy names "proxy\.example", which is not an IP address, a CIDR range or one of loopback, linklocal, uniquelocal\.\n$/,
    );
  });
});

describe("a restarted container (issue 9 item 10)", () => {
  it("a LOCK written by an earlier process with this process's pid (PID 1 again) does not stop serve", async () => {
    const data = join(dir.path, "pid-one");
    const args = ["serve", "--dev", "--port", "0", "--data", data, "--site", SITE];
    // The child writes the LOCK its previous life would have left (same pid, another
    // open's token), then runs the real bin in the same process.
    const script = `
      import { mkdirSync, writeFileSync } from "node:fs";
      mkdirSync(${JSON.stringify(data)}, { recursive: true });
      writeFileSync(${JSON.stringify(join(data, "LOCK"))}, JSON.stringify({ pid: process.pid, startedAt: "2020-01-01T00:00:00.000Z", token: "previous-life" }));
      process.argv = [process.execPath, ${JSON.stringify(BIN)}, ...${JSON.stringify(args)}];
      await import(${JSON.stringify(new URL(`file://${BIN}`).href)});
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      cwd: dir.path,
      env: cleanEnv({ INDIEPM_TOKEN: TOKEN }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const exited = once(child, "exit");
    cleanups.push(async () => {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
    });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on("data", () => stdout.includes("\n") && resolve());
      void exited.then(() => reject(new Error(`serve exited: ${stderr}`)));
    });
    expect(stdout).toMatch(/^indiepm listening on http:\/\/127\.0\.0\.1:\d+\/\n/);
    // Still one process per folder: a second serve on it is refused.
    const second = await runBin(args, { cwd: dir.path, env: cleanEnv({ INDIEPM_TOKEN: TOKEN }) });
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`in use by another indiepm process \\(pid ${child.pid}\\)`));
    child.kill("SIGTERM");
    expect((await exited)[0]).toBe(0);
  });
});
