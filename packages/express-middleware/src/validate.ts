/**
 * Option checks shared by `indiepm()` and `pmLink()`: each failure is one sentence that
 * names the option and, where it can, the fix (STYLE.md practice 5; helmet's
 * "Did you mean `maxAge`?").
 */
import { PmError, refusalOf } from "@indiepm/core";

/** A start-up error: `PmError("invalid_config")` whose message names the option. */
export function configError(factory: string, sentence: string): PmError {
  return new PmError("invalid_config", `${factory}: ${sentence}`);
}

/** A value as it reads in an error message: strings quoted, objects by kind. */
export function shown(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "function") return "a function";
  if (typeof value === "object") return "an object";
  return String(value);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * True when a "factory" was handed to Express itself (`app.use(indiepm)` instead of
 * `app.use(indiepm({...}))`): Express then calls it with `(req, res, next)`.
 */
export function looksLikeMiddlewareCall(args: readonly unknown[]): boolean {
  const [first, , third] = args;
  if (typeof third === "function") return true;
  if (typeof first !== "object" || first === null) return false;
  const name = (first as { constructor?: { name?: unknown } }).constructor?.name;
  return name === "IncomingMessage" || ("socket" in first && "method" in first && "headers" in first);
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

/** The known name closest to `name`, when it is close enough to be a typo. */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = candidate.toLowerCase() === name.toLowerCase() ? 0 : distance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/** Refuses an option name nobody defined, suggesting the one meant. */
export function checkKnownKeys(factory: string, options: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const guess = closest(key, known);
    throw configError(
      factory,
      guess
        ? `unknown option \`${key}\`; did you mean \`${guess}\`?`
        : `unknown option \`${key}\` (known options: ${known.map((k) => `\`${k}\``).join(", ")}).`,
    );
  }
}

/**
 * An absolute http(s) URL without fragment or credentials, in canonical form
 * (PROTOCOL.md "URLs"); in production also what core's `refusalOf` accepts (https, a
 * domain name, not localhost).
 */
export function checkUrl(factory: string, field: string, value: unknown, options: { production: boolean }): string {
  const wrong = (why: string): PmError => configError(factory, `option \`${field}\` ${why}, got ${shown(value)}.`);
  if (typeof value !== "string" || !URL.canParse(value)) throw wrong("must be an absolute http(s) URL");
  const url = new URL(value);
  if (url.protocol !== "https:" && url.protocol !== "http:") throw wrong("must be an absolute http(s) URL");
  if (url.hash || value.includes("#")) throw wrong("must not have a fragment");
  const refusal = refusalOf(url, { dev: !options.production });
  if (refusal) throw wrong(`is refused: ${refusal.replace(/\(use development mode for http\)/, "(set `dev: true` for local testing)")}`);
  return url.href;
}
