/** The real built bin (`node packages/cli/bin/indiepm.js`), as scripts and the hidden tests run it. */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanEnv, ensureBuilt, runBin, spawnBin, tempDir, tinyServer } from "./helpers.js";

let dir: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  ensureBuilt();
  dir = await tempDir();
}, 180_000);
afterAll(async () => {
  await dir?.remove();
});

const TOKEN = "owner-token-for-tests-0123456789";

describe("the bin", () => {
  it.each(["serve", "discover", "send", "inbox", "outbox"])("indiepm %s --help exits 0 with usage on stdout", async (command) => {
    const { code, stdout } = await runBin([command, "--help"], { cwd: dir.path });
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^Usage: indiepm ${command}`));
  });

  it("a usage error exits 2", async () => {
    const { code, stdout, stderr } = await runBin(["inbox", "--nope"], { cwd: dir.path });
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toMatch(/^indiepm inbox: unknown option --nope; run `indiepm inbox --help` for usage\.\n$/);
  });
});

describe("indiepm discover", () => {
  it("without --dev refuses http://127.0.0.1 without connecting", async () => {
    const site = await tinyServer((_req, res) => res.end("<link rel=pm href=/pm>"));
    try {
      const { code, stdout, stderr } = await runBin(["discover", site.url], { cwd: dir.path });
      expect(code).toBe(1);
      expect(stdout).toBe("");
      expect(stderr).toMatch(/^indiepm discover: http:\/\/127\.0\.0\.1:\d+\/ is refused: .*https/);
      expect(stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(site.connections()).toBe(0);
    } finally {
      await site.close();
    }
  });

  it.each(["https://127.0.0.1/", "https://localhost/", "https://[::1]/"])("without --dev refuses %s without connecting", async (url) => {
    const { code, stderr } = await runBin(["discover", url], { cwd: dir.path });
    expect(code).toBe(1);
    expect(stderr).toMatch(/is refused/);
  });

  it("with --dev prints the endpoint (PROTOCOL.md §1: Link header, resolved) on the last line", async () => {
    const site = await tinyServer((_req, res) => {
      res.setHeader("link", '</pm/?a=1>; rel="pm"');
      res.setHeader("content-type", "text/html");
      res.end("<p>home</p>");
    });
    try {
      const { code, stdout } = await runBin(["discover", "--dev", site.url], { cwd: dir.path });
      expect(code).toBe(0);
      expect(stdout.trimEnd().split("\n").at(-1)).toBe(`${site.url}pm/?a=1`);
    } finally {
      await site.close();
    }
  });

  it("with --dev, a page that names no endpoint exits 1 with the reason", async () => {
    const site = await tinyServer((_req, res) => {
      res.setHeader("content-type", "text/html");
      res.end('<a rel="not-pm" href="/x">x</a>');
    });
    try {
      const { code, stdout, stderr } = await runBin(["discover", "--dev", site.url], { cwd: dir.path });
      expect(code).toBe(1);
      expect(stdout).toBe("");
      expect(stderr).toMatch(/names no pm endpoint/);
    } finally {
      await site.close();
    }
  });

  it("with --dev, a fetch error exits 1 with the reason", async () => {
    const site = await tinyServer((_req, res) => {
      res.statusCode = 500;
      res.end();
    });
    try {
      const { code, stderr } = await runBin(["discover", "--dev", site.url], { cwd: dir.path });
      expect(code).toBe(1);
      expect(stderr).toMatch(/500/);
    } finally {
      await site.close();
    }
  });
});

describe("indiepm serve", () => {
  it("without INDIEPM_TOKEN exits 2 with a sentence saying so", async () => {
    const { code, stdout, stderr } = await runBin(["serve", "--port", "0"], { cwd: dir.path, env: cleanEnv() });
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toMatch(/INDIEPM_TOKEN/);
    expect(stderr.trimEnd().split("\n")).toHaveLength(1);
  });

  it.each([
    ["a wrong type", '{"port": "eighty"}', /config file .*: `port` must be a whole number from 0 to 65535, got "eighty"\./],
    ["an unknown key", '{"sites": [], "prot": 1}', /config file .*: unknown key `prot`/],
    ["a bad site", '{"sites": ["nope"]}', /`sites\[0\]` in .* must be an absolute http\(s\) URL, got "nope"/],
    // An engine setting, by the engine's rule (core's resolvePmServerOptions), named as the file names it.
    [
      "a bad engine setting",
      '{"grantLifetimeSeconds": 5}',
      /^indiepm serve: `grantLifetimeSeconds` in .* must be whole seconds from 60 to 31536000 \(PROTOCOL\.md §2 expires_in\), got 5\.$/m,
    ],
    ["not JSON", "{port: 1}", /config file .* is not valid JSON/],
    ["not an object", "[1]", /config file .* must hold a JSON object/],
  ])("a config file with %s exits 2 with one sentence naming the field", async (_name, text, message) => {
    const file = join(dir.path, `config-${Math.random().toString(36).slice(2)}.json`);
    await writeFile(file, text);
    const { code, stderr } = await runBin(["serve", "--dev", "--config", file], { cwd: dir.path, env: cleanEnv() });
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr.trimEnd().split("\n")).toHaveLength(1);
  });

  it("a missing config file exits 2", async () => {
    const { code, stderr } = await runBin(["serve", "--dev", "--config", "nope.json"], { cwd: dir.path });
    expect(code).toBe(2);
    expect(stderr).toMatch(/cannot read config file .*nope\.json \(no such file\)/);
  });

  it("serve --port 0 --dev prints the listening line first and exits 0 on SIGTERM", async () => {
    const run = spawnBin(["serve", "--port", "0", "--dev", "--data", join(dir.path, "plain")], { cwd: dir.path, env: cleanEnv() });
    const line = await run.firstLine;
    expect(line).toMatch(/^indiepm listening on http:\/\/127\.0\.0\.1:\d+\/$/);
    run.child.kill("SIGTERM");
    const outcome = await run.done;
    expect(outcome.code).toBe(0);
    expect(outcome.stderr).toMatch(/INDIEPM_TOKEN=[A-Za-z0-9_-]{43}/);
  });

  it("answers on the endpoint, with flags over the config file, and exits 0 on SIGINT sent twice", async () => {
    const config = join(dir.path, "serve.json");
    await writeFile(config, JSON.stringify({ port: 1, host: "127.0.0.1", data: "from-config", sites: ["http://127.0.0.1:7/"], dev: true }));
    const run = spawnBin(["serve", "--config", config, "--port", "0", "--site", "http://127.0.0.1:8/"], {
      cwd: dir.path,
      env: cleanEnv({ INDIEPM_TOKEN: TOKEN }),
    });
    const line = await run.firstLine;
    const url = /^indiepm listening on (\S+)$/.exec(line)?.[1];
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);

    // PROTOCOL.md §2 through createNodeHandler: a too-large body is 413 JSON.
    const big = await fetch(url!, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: `a=${"x".repeat(300 * 1024)}` });
    expect(big.status).toBe(413);
    expect(await big.json()).toEqual({ error: "too_large", error_description: expect.any(String) });
    const notForm = await fetch(url!, { method: "POST", headers: { "content-type": "text/plain" }, body: "hello" });
    expect(notForm.status).toBe(400);
    expect((await notForm.json()).error).toBe("invalid_request");
    // The owner API, with the token from the environment; --site won over the config's sites.
    const inbox = await fetch(new URL("api/inbox", url), { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(inbox.status).toBe(200);
    const page = await fetch(url!);
    expect(await page.text()).toContain("http://127.0.0.1:8/");
    // CLI.md: GET /health is what a load balancer polls; the store can be read and written.
    const health = await fetch(new URL("health", url));
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });

    run.child.kill("SIGINT");
    run.child.kill("SIGINT");
    const outcome = await run.done;
    expect(outcome.code).toBe(0);
    expect(outcome.stderr).not.toMatch(/INDIEPM_TOKEN=/);
  });

  it("a second server on the same data folder exits 1 with one sentence", async () => {
    const data = join(dir.path, "shared");
    const first = spawnBin(["serve", "--port", "0", "--dev", "--data", data, "--site", "http://127.0.0.1:7/"], { cwd: dir.path });
    await first.firstLine;
    try {
      const second = await runBin(["serve", "--port", "0", "--dev", "--data", data, "--site", "http://127.0.0.1:7/"], { cwd: dir.path });
      expect(second.code).toBe(1);
      expect(second.stdout).toBe("");
      expect(second.stderr.trimEnd().split("\n").at(-1)).toMatch(/^indiepm serve: .+\.$/);
    } finally {
      first.child.kill("SIGTERM");
      await first.done;
    }
  });
});
