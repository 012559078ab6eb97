/**
 * Option checks shared by `indiepm()` and `pmLink()`: each failure is one sentence that
 * names the option and, where it can, the fix (STYLE.md practice 5; helmet's
 * "Did you mean `maxAge`?").
 */
import { describeValue, isPlainObject, refusalOf, unknownOptionSentence } from "@indiepm/protocol";
import { IndiePmExpressError } from "./errors.js";

// One wording of a value and one plain-object test for every package's options (`@indiepm/protocol`).
export { describeValue as shown, isPlainObject };

/** A start-up error: `IndiePmExpressError("invalid_config")` whose message names the option. */
export function configError(factory: string, sentence: string, options?: { cause?: unknown }): IndiePmExpressError {
  return new IndiePmExpressError("invalid_config", `${factory}: ${sentence}`, options);
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

/** Refuses an option name nobody defined, suggesting the one meant (the shared rule of `@indiepm/protocol`). */
export function checkKnownKeys(factory: string, options: Record<string, unknown>, known: readonly string[]): void {
  const unknown = unknownOptionSentence(options, known);
  if (unknown) throw configError(factory, unknown);
}

/**
 * `pmLink()`'s `endpoint` (the engine's own URLs are checked by core's
 * `resolvePmServerOptions`): an absolute http(s) URL without fragment or credentials, in
 * canonical form (PROTOCOL.md "URLs"); in production also what `refusalOf` accepts.
 */
export function checkUrl(factory: string, field: string, value: unknown, options: { production: boolean }): string {
  const wrong = (why: string): IndiePmExpressError => configError(factory, `option \`${field}\` ${why}, got ${describeValue(value)}.`);
  if (typeof value !== "string" || !URL.canParse(value)) throw wrong("must be an absolute http(s) URL");
  const url = new URL(value);
  if (url.protocol !== "https:" && url.protocol !== "http:") throw wrong("must be an absolute http(s) URL");
  if (url.hash || value.includes("#")) throw wrong("must not have a fragment");
  const refusal = refusalOf(url, { dev: !options.production });
  if (refusal) throw wrong(`is refused: ${refusal.replace(/\(use development mode for http\)/, "(set `dev: true` for local testing)")}`);
  return url.href;
}
