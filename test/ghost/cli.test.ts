/**
 * `indiepm ghost setup|proxy` (CLI.md conventions: --help on stdout exit 0, usage errors
 * exit 2, other errors one sentence on stderr exit 1, --json one document on stdout),
 * in-process against the stand-in Ghost. The real Ghost is real-ghost.test.ts's.
 */
import { main } from "@indiepm/cli";
import { DEFAULT_GHOST_UPSTREAM as GHOST_DEFAULT } from "@indiepm/ghost";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startFakeGhost, type FakeGhost } from "../../packages/ghost/test/fake-ghost.js";

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(argv: string[], env: Record<string, string> = {}): Promise<Outcome> {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), env, cwd: process.cwd() });
  return { code, stdout, stderr };
}

function expectOneSentence(stderr: string): void {
  expect(stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(stderr.trimEnd()).toMatch(/[.?!]$/);
  expect(stderr).not.toMatch(/\n\s+at /);
}

const E = "http://127.0.0.1:9/pm/";

describe("indiepm ghost: help and usage", () => {
  it.each([
    ["ghost", "--help"],
    ["ghost", "setup", "--help"],
    ["ghost", "proxy", "-h"],
    ["help", "ghost"],
  ])("indiepm %s %s prints usage on stdout, exit 0", async (...argv) => {
    const { code, stdout, stderr } = await run(argv);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: indiepm ghost setup/);
    expect(stdout).toContain("indiepm ghost proxy --server nginx|caddy");
    expect(stderr).toBe("");
  });

  it("indiepm --help lists ghost", async () => {
    expect((await run(["--help"])).stdout).toMatch(/^ {2}ghost {7}/m);
  });

  const TOKEN = `${"a".repeat(24)}:${"b".repeat(64)}`;
  it.each([
    { args: ["ghost"], message: /^indiepm ghost: say what to do: setup or proxy; run `indiepm ghost --help` for usage\.\n$/ },
    { args: ["ghost", "publish"], message: /unknown subcommand "publish" \(setup or proxy\)/ },
    { args: ["ghost", "setup", "--endpoint", E, "--staff-token", TOKEN], message: /--url GHOST_URL is required/ },
    { args: ["ghost", "setup", "--url", "https://blog.example/", "--staff-token", TOKEN], message: /--endpoint PM_URL is required \(or --remove\)/ },
    {
      args: ["ghost", "setup", "--url", "https://blog.example/", "--staff-token", TOKEN, "--endpoint", E, "--remove"],
      message: /give --endpoint or --remove, not both/,
    },
    { args: ["ghost", "setup", "--url", "https://blog.example/", "--endpoint", E], message: /--staff-token TOKEN is required \(or env GHOST_STAFF_TOKEN\)/ },
    {
      args: ["ghost", "setup", "--url", "blog.example", "--staff-token", TOKEN, "--endpoint", E],
      message: /--url must be an absolute http\(s\) URL, got "blog.example"/,
    },
    {
      args: ["ghost", "setup", "--url", "http://blog.example/", "--staff-token", TOKEN, "--endpoint", "https://pm.example/"],
      message: /the Ghost URL http:\/\/blog.example\/ is refused: production servers accept only https URLs/,
    },
    { args: ["ghost", "setup", "--bogus"], message: /unknown option --bogus/ },
    {
      args: ["ghost", "proxy", "--server", "apache", "--site", "https://b.example/", "--pm-url", "https://b.example/.pm/"],
      message: /--server must be nginx or caddy, got "apache"/,
    },
    { args: ["ghost", "proxy", "--server", "nginx", "--pm-url", "https://b.example/.pm/"], message: /--site URL is required/ },
    {
      args: ["ghost", "proxy", "--server", "nginx", "--site", "https://b.example/", "--pm-url", "https://b.example/.pm"],
      message: /the pm URL must end with "\/"/,
    },
  ])("indiepm $args: exit 2, one sentence", async ({ args, message }) => {
    const { code, stdout, stderr } = await run(args);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toMatch(message);
    expectOneSentence(stderr);
  });
});

describe("indiepm ghost setup (stand-in Ghost)", () => {
  let ghost: FakeGhost;
  beforeEach(async () => {
    ghost = await startFakeGhost({ codeInjectionHead: "<script>track()</script>\n" });
  });
  afterEach(() => ghost.close());

  const setup = (...extra: string[]) => ["ghost", "setup", "--dev", "--url", ghost.url, "--staff-token", ghost.staffToken, ...extra];

  it("adds the link, says so, and shows discovery's proof", async () => {
    const { code, stdout, stderr } = await run(setup("--endpoint", E));
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toBe(
      `Ghost ${ghost.url}: added <link rel="pm" href="${E}"> in the site header code injection.\n` +
        `Checked: ${ghost.url} names the pm endpoint ${E} (PROTOCOL.md §1 discovery).\n`,
    );
    expect(ghost.codeInjectionHead).toBe(`<script>track()</script>\n<link rel="pm" href="${E}">\n`);
  });

  it("a second run changes nothing", async () => {
    await run(setup("--endpoint", E));
    const { code, stdout } = await run(setup("--endpoint", E));
    expect(code).toBe(0);
    expect(stdout).toMatch(/already names http:\/\/127.0.0.1:9\/pm\/; nothing to change\./);
  });

  it("the token can come from env GHOST_STAFF_TOKEN", async () => {
    const { code } = await run(["ghost", "setup", "--dev", "--url", ghost.url, "--endpoint", E], { GHOST_STAFF_TOKEN: ghost.staffToken });
    expect(code).toBe(0);
  });

  it("--dry-run shows the change as a diff and writes nothing", async () => {
    const { code, stdout } = await run(setup("--endpoint", E, "--dry-run"));
    expect(code).toBe(0);
    expect(stdout).toBe(
      `Ghost ${ghost.url}: would add <link rel="pm" href="${E}"> in the site header code injection (dry run: nothing written).\n` +
        '--- codeinjection_head (now)\n+++ codeinjection_head (after)\n  <script>track()</script>\n+ <link rel="pm" href="http://127.0.0.1:9/pm/">\n  \n',
    );
    expect(ghost.codeInjectionHead).toBe("<script>track()</script>\n");
  });

  it("--json prints one document", async () => {
    const { code, stdout } = await run(setup("--endpoint", E, "--json"));
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      site: ghost.url,
      endpoint: E,
      action: "added",
      changed: true,
      written: true,
      dryRun: false,
      before: "<script>track()</script>\n",
      after: `<script>track()</script>\n<link rel="pm" href="${E}">\n`,
      proof: { url: ghost.url, endpoint: E, source: "html" },
    });
  });

  it("--remove takes it out", async () => {
    await run(setup("--endpoint", E));
    const { code, stdout } = await run(setup("--remove"));
    expect(code).toBe(0);
    expect(stdout).toBe(
      `Ghost ${ghost.url}: removed <link rel="pm" href="${E}"> from the site header code injection.\nChecked: ${ghost.url} names no pm endpoint.\n`,
    );
    expect(ghost.codeInjectionHead).toBe("<script>track()</script>\n");
  });

  it("an integration's Admin API key: one sentence why, and the snippet to paste on stdout; exit 1", async () => {
    const { code, stdout, stderr } = await run(["ghost", "setup", "--dev", "--url", ghost.url, "--staff-token", ghost.integrationKey, "--endpoint", E]);
    expect(code).toBe(1);
    expect(stdout).toBe(`<link rel="pm" href="${E}">\n`);
    expect(stderr).toMatch(
      /^indiepm ghost setup: Ghost lets a custom integration's Admin API key only read settings \(it answers 501 to any change\), so use a staff access token .* or paste the snippet printed on stdout into Settings → Code injection → Site header by hand\.$/m,
    );
    expectOneSentence(stderr);
    expect(ghost.codeInjectionHead).toBe("<script>track()</script>\n");
  });

  it("an integration's key with --dry-run shows the change and warns", async () => {
    const { code, stdout } = await run(["ghost", "setup", "--dev", "--dry-run", "--url", ghost.url, "--staff-token", ghost.integrationKey, "--endpoint", E]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/Note: this key is an integration's Admin API key/);
  });

  it("a failure Ghost explains is one sentence, exit 1", async () => {
    const { code, stderr } = await run(["ghost", "setup", "--dev", "--url", ghost.url, "--staff-token", ghost.editorToken, "--endpoint", E]);
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /^indiepm ghost setup: Ghost refused \(You do not have permission to edit settings\); only an Administrator's or the Owner's staff access token may edit site settings\.$/m,
    );
    expectOneSentence(stderr);
  });
});

describe("indiepm ghost proxy", () => {
  it.each(["nginx", "caddy"])("--server %s prints the snippet on stdout", async (server) => {
    const { code, stdout, stderr } = await run([
      "ghost",
      "proxy",
      "--server",
      server,
      "--site",
      "https://blog.example/",
      "--pm-url",
      "https://blog.example/.pm/",
      "--upstream",
      "http://127.0.0.1:8090",
    ]);
    expect(code).toBe(0);
    expect(stderr).toBe("");
    expect(stdout).toContain("<https://blog.example/.pm/>; rel=");
    expect(stdout).toContain("127.0.0.1:8090");
    expect(stdout).toContain("127.0.0.1:2368");
  });

  it("the CLI's default Ghost address is the package's", async () => {
    const { stdout } = await run(["ghost", "--help"]);
    expect(stdout).toContain(`--ghost URL          Ghost itself (default ${GHOST_DEFAULT})`);
  });
});
