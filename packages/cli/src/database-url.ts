/**
 * `--database URL` (CLI.md), shared by `serve` and `migrate`: where it comes from (the
 * flag, a config file's `database`, env INDIEPM_DATABASE_URL: the flag's default), the
 * check of its form, and the URL as it may be shown: never with its password.
 */
import { usage } from "./args.js";

/** The environment variable `--database` defaults to. */
export const DATABASE_ENV = "INDIEPM_DATABASE_URL";

const SCHEMES = new Set(["postgres:", "postgresql:"]);

/** `value` with any password replaced by `***`, whether or not it parses as a URL. */
export function redactedUrl(value: string): string {
  if (URL.canParse(value)) {
    const url = new URL(value);
    if (url.password !== "") url.password = "***";
    // Some clients take the password as a query parameter too.
    if (url.searchParams.has("password")) url.searchParams.set("password", "***");
    return url.href;
  }
  return value.replace(/(\/\/[^/@:]*:)[^/@]*@/, "$1***@").replace(/([?&]password=)[^&]*/i, "$1***");
}

/** `text` with the password of `url` (as typed and as URL-encoded) replaced by `***`: for errors that quote it. */
export function withoutPassword(text: string, url: string): string {
  let out = text;
  if (URL.canParse(url)) {
    const { password, searchParams } = new URL(url);
    const secrets = [password, safeDecode(password), searchParams.get("password") ?? ""].filter((s) => s.length >= 1);
    for (const secret of secrets) out = out.split(secret).join("***");
  }
  return out;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * Checks a database URL's form (nothing is connected): `postgres://` or `postgresql://`.
 * `source` names where it came from (`--database`, `` `database` in FILE ``, INDIEPM_DATABASE_URL).
 * @throws CliError (exit 2) naming `--database` and the URL without its password.
 */
export function checkDatabaseUrl(command: string, value: string, source: string): string {
  const named = source === "--database" ? "--database" : `--database (here ${source})`;
  if (value.trim() === "") throw usage(command, `${named} needs a PostgreSQL URL such as postgres://USER:PASSWORD@HOST:5432/DB`);
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(value)?.[0].toLowerCase();
  if (scheme === undefined || !SCHEMES.has(scheme) || !URL.canParse(value)) {
    throw usage(
      command,
      `${named} must be a PostgreSQL URL (postgres:// or postgresql://USER:PASSWORD@HOST:PORT/DB), got ${JSON.stringify(redactedUrl(value))}`,
    );
  }
  return value;
}
