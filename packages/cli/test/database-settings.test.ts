/**
 * `serve --database` as a setting (CLI.md): where it comes from (flag, then the config
 * file's `database`, then env INDIEPM_DATABASE_URL), its form, and a password never shown.
 * Nothing here connects; serve-postgres.test.ts runs it on a real PostgreSQL.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redactedUrl, withoutPassword } from "../src/database-url.js";
import { serveSettings } from "../src/serve.js";
import { runMain, tempDir } from "./helpers.js";

let dir: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  dir = await tempDir();
});
afterAll(async () => {
  await dir?.remove();
});

const io = (env: Record<string, string> = {}) => ({ stdout() {}, stderr() {}, env, cwd: dir.path });
const FLAG = "postgres://flag@db.example/pm";
const CONFIG = "postgresql://config@db.example/pm";
const ENV = "postgres://env@db.example/pm";

describe("where --database comes from: flag, then config file, then INDIEPM_DATABASE_URL", () => {
  it.each([
    { flag: true, config: true, env: true, expected: FLAG },
    { flag: false, config: true, env: true, expected: CONFIG },
    { flag: false, config: false, env: true, expected: ENV },
    { flag: false, config: false, env: false, expected: undefined },
  ])("flag $flag, config $config, env $env → $expected", async ({ flag, config, env, expected }) => {
    const file = join(dir.path, `config-${String(flag)}${String(config)}${String(env)}.json`);
    await writeFile(file, JSON.stringify(config ? { database: CONFIG } : {}));
    const settings = await serveSettings(["--dev", "--config", file, ...(flag ? ["--database", FLAG] : [])], io(env ? { INDIEPM_DATABASE_URL: ENV } : {}));
    expect(settings.database).toBe(expected);
    // With a database the server has no data folder at all.
    if (expected === undefined) expect(settings.dataDir).toBe(join(dir.path, ".indiepm"));
    else expect(settings.dataDir).toBeUndefined();
  });

  it("an empty INDIEPM_DATABASE_URL is no database (the embedded store)", async () => {
    const settings = await serveSettings(["--dev"], io({ INDIEPM_DATABASE_URL: "" }));
    expect(settings.database).toBeUndefined();
  });

  it("a config file's database that is not a string exits 2 naming the key", async () => {
    const file = join(dir.path, "bad-database.json");
    await writeFile(file, JSON.stringify({ database: 5432 }));
    const { code, stderr } = await runMain(["serve", "--dev", "--config", file]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/config file .*bad-database\.json: `database` must be a PostgreSQL URL/);
  });

  it("a config file's bad database URL is named as --database, from the file", async () => {
    const file = join(dir.path, "wrong-scheme.json");
    await writeFile(file, JSON.stringify({ database: "mongodb://pm:hunter2@db.example/pm" }));
    const { code, stderr } = await runMain(["serve", "--dev", "--config", file]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^indiepm serve: --database \(here `database` in .*wrong-scheme\.json\) must be a PostgreSQL URL/);
    expect(stderr).not.toContain("hunter2");
  });
});

describe("a database password is never shown", () => {
  it.each([
    ["mysql://pm:s3cret@db.example/pm", "s3cret"],
    ["postgres//pm:s3cret@db.example/pm", "s3cret"],
    ["pg://db.example/pm?password=s3cret", "s3cret"],
  ])("the usage error for %s", async (url, secret) => {
    const { code, stderr } = await runMain(["serve", "--dev", "--database", url]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--database must be a PostgreSQL URL/);
    expect(stderr).not.toContain(secret);
  });

  it("redactedUrl and withoutPassword", () => {
    expect(redactedUrl("postgres://pm:p%40ss@db.example:5432/pm")).toBe("postgres://pm:***@db.example:5432/pm");
    expect(redactedUrl("postgres://db.example/pm?password=x&sslmode=require")).toBe("postgres://db.example/pm?password=***&sslmode=require");
    expect(redactedUrl("postgres://pm@db.example/pm")).toBe("postgres://pm@db.example/pm");
    expect(withoutPassword('password authentication failed; tried "p@ss" and p%40ss', "postgres://pm:p%40ss@db.example/pm")).toBe(
      'password authentication failed; tried "***" and ***',
    );
  });
});
