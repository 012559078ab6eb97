/** CLI.md: every command has --help (stdout, exit 0); usage errors exit 2 with one sentence. */
import { describe, expect, it } from "vitest";
import { runMain } from "./helpers.js";

const COMMANDS = ["serve", "migrate", "discover", "send", "inbox", "outbox", "ghost"];

/** One sentence: one line, ending with a full stop, no stack. */
function expectOneSentence(stderr: string): void {
  expect(stderr.endsWith("\n")).toBe(true);
  expect(stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(stderr.trimEnd()).toMatch(/[.?!]$/);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe("--help", () => {
  it.each(COMMANDS)("indiepm %s --help prints usage on stdout and exits 0", async (command) => {
    const { code, stdout, stderr } = await runMain([command, "--help"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^Usage: indiepm ${command}`));
    expect(stderr).toBe("");
  });

  it.each(COMMANDS)("indiepm %s -h wins over other mistakes", async (command) => {
    const { code, stdout } = await runMain([command, "--no-such-flag", "-h"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: /);
  });

  it("indiepm --help lists the commands", async () => {
    const { code, stdout } = await runMain(["--help"]);
    expect(code).toBe(0);
    for (const command of COMMANDS) expect(stdout).toContain(command);
  });
});

describe("usage errors exit 2 with one sentence on stderr", () => {
  const token = { INDIEPM_TOKEN: "owner-token-for-tests-0123456789" };
  it.each([
    { args: [], env: {}, message: /^Usage: indiepm COMMAND/ },
    { args: ["frobnicate"], env: {}, message: /unknown command "frobnicate"/ },
    { args: ["serve", "--port", "abc"], env: {}, message: /--port must be a port number from 0 to 65535, got "abc"/ },
    { args: ["serve", "--port", "70000", "--dev"], env: {}, message: /--port must be a port number/ },
    { args: ["serve", "--port"], env: {}, message: /option --port needs a value/ },
    { args: ["serve", "extra"], env: {}, message: /unexpected argument "extra"/ },
    { args: ["serve", "--dev", "--site", "not a url"], env: {}, message: /--site must be an absolute http\(s\) URL/ },
    {
      args: ["serve", "--site", "http://example.com/", "--public-url", "https://pm.example.com/"],
      env: token,
      message: /--site is refused: production servers accept only https URLs \(set --dev for local testing\), got "http:\/\/example.com\/"\./,
    },
    { args: ["serve"], env: token, message: /outside --dev the endpoint must be an https URL/ },
    { args: ["serve", "--dev"], env: { INDIEPM_TOKEN: "   " }, message: /^indiepm serve: INDIEPM_TOKEN must be a non-empty string/ },
    {
      args: ["serve", "--dev", "--database", "mysql://pm:s3cret@db.example/pm"],
      env: {},
      message: /^indiepm serve: --database must be a PostgreSQL URL \(postgres:\/\/ or postgresql:\/\/.*\), got "mysql:\/\/pm:\*\*\*@db\.example\/pm"/,
    },
    { args: ["serve", "--dev", "--database", ""], env: {}, message: /--database needs a PostgreSQL URL/ },
    {
      args: ["serve", "--dev"],
      env: { INDIEPM_DATABASE_URL: "db.example:5432" },
      message: /--database \(here INDIEPM_DATABASE_URL\) must be a PostgreSQL URL/,
    },
    {
      args: ["serve", "--dev", "--data", "d", "--database", "postgres://db.example/pm"],
      env: {},
      message: /--data and --database both name where the state is kept/,
    },
    { args: ["serve", "--dev", "--data", "d"], env: { INDIEPM_DATABASE_URL: "postgres://db.example/pm" }, message: /--data and INDIEPM_DATABASE_URL both/ },
    { args: ["migrate"], env: {}, message: /^indiepm migrate: --data is required/ },
    { args: ["migrate", "--data", "d"], env: {}, message: /^indiepm migrate: --database is required \(or env INDIEPM_DATABASE_URL\)/ },
    { args: ["migrate", "--data", "d", "--database", "postgres//x"], env: {}, message: /^indiepm migrate: --database must be a PostgreSQL URL/ },
    { args: ["migrate", "--data", "d", "--nope"], env: {}, message: /^indiepm migrate: unknown option --nope; run `indiepm migrate --help` for usage\.$/m },
    { args: ["discover"], env: {}, message: /the site URL is missing/ },
    { args: ["discover", "a", "b"], env: {}, message: /give one site URL/ },
    { args: ["discover", "not-a-url"], env: {}, message: /"not-a-url" is not an absolute URL/ },
    { args: ["send", "--to", "https://b.example/", "hi"], env: token, message: /--from SITE is required/ },
    { args: ["send", "--from", "https://a.example/", "hi"], env: token, message: /at least one --to SITE is required/ },
    { args: ["send", "--from", "https://a.example/", "--to", "https://b.example/"], env: token, message: /the message TEXT is missing/ },
    { args: ["send", "--from", "a", "--to", "https://b.example/", "hi"], env: token, message: /--from must be an absolute http\(s\) site URL, got "a"/ },
    {
      args: ["send", "--from", "https://a.example/", "--to", "https://b.example/", "--flow", "carrier-pigeon", "hi"],
      env: token,
      message: /--flow must be "token" or "message"/,
    },
    {
      args: ["send", "--from", "https://a.example/", "--to", "https://b.example/", "--timeout", "soon", "hi"],
      env: token,
      message: /--timeout must be a number of seconds/,
    },
    {
      args: ["send", "--from", "https://a.example/", "--to", "https://b.example/", "hi"],
      env: {},
      message: /no owner token: set INDIEPM_TOKEN or pass --token/,
    },
    { args: ["inbox", "--bogus"], env: token, message: /unknown option --bogus/ },
    { args: ["inbox", "--limit", "0"], env: token, message: /--limit must be a whole number/ },
    { args: ["inbox", "--json=yes"], env: token, message: /option --json takes no value/ },
    { args: ["outbox", "--site", "nope"], env: token, message: /--site must be an absolute http\(s\) site URL/ },
    { args: ["outbox", "--server", "ftp://x/"], env: token, message: /the server URL must be an absolute http\(s\) URL/ },
  ])("indiepm $args", async ({ args, env, message }) => {
    const { code, stdout, stderr } = await runMain(args, env);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toMatch(message);
    if (args.length > 0) expectOneSentence(stderr);
  });
});
