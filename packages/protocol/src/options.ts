/**
 * Options checked once, in the factory (STYLE.md practice 5): the one check of option
 * names for every indiepm package that takes options (the Eleventy plugin, the Express
 * middleware), with helmet's "did you mean" for a misspelt one. Each package wraps the
 * sentence in its own error type.
 */

/** Edit distance (Levenshtein), for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/**
 * The known name closest to `name` when it is close enough to be a typo (the same name
 * in another case, or at most max(2, length / 3) edits away), else `undefined`.
 */
export function closestName(name: string, known: readonly string[]): string | undefined {
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

/**
 * The sentence that refuses the first key of `options` not in `known` — "unknown option
 * `maxage`; did you mean `maxAge`?", or the list of known options when none is close —
 * or `undefined` when every key is known.
 */
export function unknownOptionSentence(options: Record<string, unknown>, known: readonly string[]): string | undefined {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const guess = closestName(key, known);
    return guess
      ? `unknown option \`${key}\`; did you mean \`${guess}\`?`
      : `unknown option \`${key}\` (known options: ${known.map((k) => `\`${k}\``).join(", ")}).`;
  }
  return undefined;
}

/** True for `{…}` written as an object literal (or made with a `null` prototype), not an array, class instance or function. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** A value as it reads in an error message: strings quoted (and cut short at 80 characters), other things by kind. */
export function describeValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "function") return "a function";
  if (typeof value === "object") return "an object";
  return String(value);
}
