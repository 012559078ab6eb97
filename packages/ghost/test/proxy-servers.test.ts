/**
 * The snippets of `indiepm ghost proxy` in real nginx and Caddy (STYLE.md practice 9),
 * on loopback: a stand-in Ghost (an HTML page and a stylesheet) and a stand-in indiepm
 * server behind the proxy. Checks that Ghost's HTML gets `Link: <…>; rel="pm"`, its
 * stylesheet does not, and the pm path reaches the indiepm server with the prefix
 * taken off, and that a request through the proxy arrives with the client's address as the
 * rightmost X-Forwarded-For entry (what `serve --trust-proxy` reads, issue 9 item 11),
 * whatever the client wrote there itself. Skipped where nginx or caddy is not installed (`apt-get install nginx caddy`).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { clientAddressOf, parseTrustProxy } from "@indiepm/core/node";
import { closedPort, startLoopbackServer, tempDir as freshDir } from "@indiepm/test-support";
import { proxySnippet } from "../src/index.js";

function installed(command: string): boolean {
  return spawnSync(command, ["-v"], { stdio: "ignore" }).status === 0 || spawnSync(command, ["version"], { stdio: "ignore" }).status === 0;
}

const HAS_NGINX = installed("nginx");
const HAS_CADDY = installed("caddy");

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A loopback server closed after the test; resolves its port. */
async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<number> {
  const server = await startLoopbackServer(handler);
  cleanups.push(server.close);
  return Number(new URL(server.url).port);
}

/** A stand-in Ghost and a stand-in indiepm server that says what it was asked. */
async function upstreams(): Promise<{ ghost: number; pm: number }> {
  const ghost = await listen((req, res) => {
    res.setHeader("content-type", req.url?.endsWith(".css") ? "text/css" : "text/html; charset=utf-8");
    res.setHeader("set-cookie", "ghost-members-ssr=1");
    res.end(`ghost ${req.url}`);
  });
  const pm = await listen((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      res.setHeader("content-type", "application/json");
      res.end(
        JSON.stringify({
          request: `${req.method} ${req.url}`,
          host: req.headers.host,
          body,
          forwardedFor: req.headers["x-forwarded-for"],
          remote: req.socket.remoteAddress,
        }),
      );
    });
  });
  return { ghost, pm };
}

async function tempDir(): Promise<string> {
  const dir = await freshDir("indiepm-proxy-");
  cleanups.push(dir.remove);
  return dir.path;
}

async function startProcess(command: string, args: string[], env: NodeJS.ProcessEnv, ready: () => Promise<boolean>): Promise<void> {
  let output = "";
  const child: ChildProcess = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
  cleanups.push(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
  });
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`${command} exited ${child.exitCode}: ${output}`);
    if (await ready().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${command} did not start: ${output}`);
}

/** Binds every `listen` of the snippet to loopback. */
function loopbackListen(text: string): string {
  return text.replace(/^(\s*)listen \[::\]:\d+.*;\n/gm, "").replace(/^(\s*)listen (\d+)/gm, "$1listen 127.0.0.1:$2");
}

/** An nginx.conf around the snippet's three parts, as an owner would place them. */
function nginxConf(snippet: string, dir: string, sitePort: number, mode: "path" | "subdomain"): string {
  const part2 = snippet.indexOf("# 2.");
  const part3 = snippet.indexOf("# 3.");
  const [httpPart, secondPart, serverPart] = [snippet.slice(0, part2), snippet.slice(part2, part3), snippet.slice(part3)];
  return `daemon off; master_process off; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events {}
http {
  access_log off; client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
${httpPart}
${mode === "subdomain" ? loopbackListen(secondPart) : ""}
  server {
    listen 127.0.0.1:${sitePort};
${mode === "path" ? secondPart : ""}
${serverPart}
  }
}
`;
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** node:http, not fetch: fetch will not send a Host header of our choosing. */
function request(
  url: string,
  options: { method?: string; host?: string; body?: string; headers?: Record<string, string>; localAddress?: string } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers, ...(options.host ? { host: options.host } : {}) };
    if (options.body !== undefined) headers["content-type"] = "application/x-www-form-urlencoded";
    const req = httpRequest(
      url,
      { method: options.method ?? "GET", headers, ...(options.localAddress ? { localAddress: options.localAddress } : {}) },
      (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

async function checkProxy(siteOrigin: string, pmBase: string, pmHost: string | undefined, linkTarget: string): Promise<void> {
  const page = await request(`${siteOrigin}/some-post/`);
  expect(page.status).toBe(200);
  expect(page.body).toBe("ghost /some-post/");
  expect(page.headers.link).toBe(`<${linkTarget}>; rel="pm"`);
  expect(page.headers["set-cookie"]).toEqual(["ghost-members-ssr=1"]);

  const css = await request(`${siteOrigin}/assets/built/screen.css`);
  expect(css.body).toBe("ghost /assets/built/screen.css");
  expect(css.headers.link).toBeUndefined();

  const host = pmHost ? { host: pmHost } : {};
  const post = await request(pmBase, { method: "POST", body: "action=notify", ...host });
  expect(JSON.parse(post.body)).toMatchObject({ request: "POST /", body: "action=notify" });
  const inbox = await request(`${pmBase}inbox?page=2`, host);
  expect(JSON.parse(inbox.body)).toMatchObject({ request: "GET /inbox?page=2" });

  // The client (at 127.0.0.5) claims another address; the proxy puts the real one last.
  const forwarded = await request(pmBase, {
    method: "POST",
    body: "action=notify",
    ...host,
    localAddress: "127.0.0.5",
    headers: { "x-forwarded-for": "203.0.113.66" },
  });
  const seen = JSON.parse(forwarded.body) as { forwardedFor: string; remote: string };
  expect(seen.forwardedFor.split(",").at(-1)!.trim()).toBe("127.0.0.5");
  // The one proxy in front is trusted (serve --trust-proxy loopback trusts it as 127.0.0.1): the client is 127.0.0.5.
  expect(clientAddressOf(seen.remote, seen.forwardedFor, parseTrustProxy("127.0.0.1"))).toBe("127.0.0.5");
}

describe.skipIf(!HAS_NGINX)("nginx runs the snippet", () => {
  it("path: /.pm/ on the blog's host", async () => {
    const { ghost, pm } = await upstreams();
    const port = await closedPort();
    const dir = await tempDir();
    const site = `http://127.0.0.1:${port}/`;
    const snippet = proxySnippet({
      server: "nginx",
      siteUrl: site,
      pmUrl: `${site}.pm/`,
      pmUpstream: `http://127.0.0.1:${pm}`,
      ghostUpstream: `http://127.0.0.1:${ghost}`,
    });
    await writeFile(join(dir, "nginx.conf"), nginxConf(snippet, dir, port, "path"));
    const test = spawnSync("nginx", ["-t", "-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log")], { encoding: "utf8" });
    expect(test.stderr).toMatch(/test is successful/);
    await startProcess("nginx", ["-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log")], process.env, async () => (await fetch(site)).ok);
    await checkProxy(`http://127.0.0.1:${port}`, `${site}.pm/`, undefined, `${site}.pm/`);
  });

  it("subdomain: a server block of its own", async () => {
    const { ghost, pm } = await upstreams();
    const port = await closedPort();
    const pmPort = await closedPort();
    const dir = await tempDir();
    const site = `http://127.0.0.1:${port}/`;
    const pmUrl = `http://pm.localhost:${pmPort}/`;
    const snippet = proxySnippet({ server: "nginx", siteUrl: site, pmUrl, pmUpstream: `http://127.0.0.1:${pm}`, ghostUpstream: `http://127.0.0.1:${ghost}` });
    await writeFile(join(dir, "nginx.conf"), nginxConf(snippet, dir, port, "subdomain"));
    await startProcess("nginx", ["-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log")], process.env, async () => (await fetch(site)).ok);
    await checkProxy(`http://127.0.0.1:${port}`, `http://127.0.0.1:${pmPort}/`, `pm.localhost:${pmPort}`, pmUrl);
  });
});

describe.skipIf(!HAS_CADDY)("Caddy runs the snippet", () => {
  async function runCaddy(snippet: string, probe: string): Promise<void> {
    const dir = await tempDir();
    // Global options for a test: no admin endpoint, no certificates, loopback only.
    const caddyfile = `{\n\tadmin off\n\tauto_https off\n\tdefault_bind 127.0.0.1\n}\n${snippet}`;
    await writeFile(join(dir, "Caddyfile"), caddyfile);
    const env = { ...process.env, XDG_DATA_HOME: join(dir, "data"), XDG_CONFIG_HOME: join(dir, "config"), HOME: dir };
    const validate = spawnSync("caddy", ["validate", "--config", join(dir, "Caddyfile"), "--adapter", "caddyfile"], { encoding: "utf8", env });
    expect(validate.status, validate.stderr).toBe(0);
    await startProcess("caddy", ["run", "--config", join(dir, "Caddyfile"), "--adapter", "caddyfile"], env, async () => (await fetch(probe)).ok);
  }

  it("path: handle_path /.pm/* on the blog's host", async () => {
    const { ghost, pm } = await upstreams();
    const port = await closedPort();
    const site = `http://127.0.0.1:${port}/`;
    await runCaddy(
      proxySnippet({ server: "caddy", siteUrl: site, pmUrl: `${site}.pm/`, pmUpstream: `http://127.0.0.1:${pm}`, ghostUpstream: `http://127.0.0.1:${ghost}` }),
      site,
    );
    await checkProxy(`http://127.0.0.1:${port}`, `${site}.pm/`, undefined, `${site}.pm/`);
  });

  it("subdomain: a site block of its own", async () => {
    const { ghost, pm } = await upstreams();
    const port = await closedPort();
    const pmPort = await closedPort();
    const site = `http://127.0.0.1:${port}/`;
    const pmUrl = `http://pm.localhost:${pmPort}/`;
    await runCaddy(
      proxySnippet({ server: "caddy", siteUrl: site, pmUrl, pmUpstream: `http://127.0.0.1:${pm}`, ghostUpstream: `http://127.0.0.1:${ghost}` }),
      site,
    );
    await checkProxy(`http://127.0.0.1:${port}`, `http://127.0.0.1:${pmPort}/`, `pm.localhost:${pmPort}`, pmUrl);
  });
});
