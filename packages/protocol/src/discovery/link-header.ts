/**
 * HTTP `Link` headers (RFC 8288 §3, parsed as its Appendix B.2 algorithm does) for
 * PROTOCOL.md §1 step 2: "the first HTTP `Link` header link whose `rel` list contains
 * `pm` wins".
 */

/** One link-value: its target as written between `<` and `>`, and its parameters. */
export interface LinkValue {
  /** The URI reference between `<` and `>`, unresolved. */
  target: string;
  /** Relation types of the first `rel` parameter, lowercased (RFC 8288 §3.3). */
  rel: string[];
  /** Parameters by lowercased name; the first occurrence of each (RFC 8288 §3, B.3). */
  params: Record<string, string>;
}

const WHITESPACE = /[ \t\r\n]/;

/**
 * PROTOCOL.md §1 step 2 (RFC 8288 §3, Appendix B.2): parses `Link` header field values
 * — one string per header line, or one already combined with commas (as `Headers.get`
 * does) — into their link-values in order. Commas and semicolons inside `<…>` and
 * inside quoted strings belong to them. A malformed link-value is skipped up to the
 * next comma outside quotes. The `anchor` parameter is kept but not applied: Webmention
 * discovery ignores it, and so does §1.
 */
export function parseLinkHeader(values: string | readonly string[] | null | undefined): LinkValue[] {
  if (values === null || values === undefined) return [];
  const links: LinkValue[] = [];
  for (const value of typeof values === "string" ? [values] : values) links.push(...parseOneField(value));
  return links;
}

/**
 * PROTOCOL.md §1 step 2: the first link-value whose `rel` relation types include `pm`
 * (compared case-insensitively, RFC 8288 §2.1.1), or `undefined`.
 */
export function findPmLink(values: string | readonly string[] | null | undefined): LinkValue | undefined {
  return parseLinkHeader(values).find((link) => link.rel.includes("pm"));
}

function parseOneField(field: string): LinkValue[] {
  const links: LinkValue[] = [];
  let i = 0;
  const skipWhitespace = () => {
    while (i < field.length && WHITESPACE.test(field[i]!)) i++;
  };
  // Skips to just past the next comma that is outside a quoted string.
  const skipToNextLink = () => {
    let quoted = false;
    for (; i < field.length; i++) {
      const c = field[i];
      if (quoted && c === "\\") i++;
      else if (c === '"') quoted = !quoted;
      else if (c === "," && !quoted) {
        i++;
        return;
      }
    }
  };

  while (i < field.length) {
    skipWhitespace();
    if (field[i] === ",") {
      i++;
      continue;
    }
    if (i >= field.length) break;
    if (field[i] !== "<") {
      skipToNextLink();
      continue;
    }
    const close = field.indexOf(">", i + 1);
    if (close === -1) break;
    const target = field.slice(i + 1, close);
    i = close + 1;
    // No prototype: a parameter named `__proto__` is just a parameter.
    const params = Object.create(null) as Record<string, string>;
    let malformed = false;
    for (;;) {
      skipWhitespace();
      if (i >= field.length) break;
      if (field[i] === ",") {
        i++;
        break;
      }
      if (field[i] !== ";") {
        malformed = true;
        skipToNextLink();
        break;
      }
      i++;
      skipWhitespace();
      const nameStart = i;
      while (i < field.length && !/[=;, \t\r\n]/.test(field[i]!)) i++;
      const name = field.slice(nameStart, i).toLowerCase();
      skipWhitespace();
      let value = "";
      if (field[i] === "=") {
        i++;
        skipWhitespace();
        if (field[i] === '"') {
          i++;
          while (i < field.length && field[i] !== '"') {
            if (field[i] === "\\" && i + 1 < field.length) i++;
            value += field[i];
            i++;
          }
          i++; // the closing quote
        } else {
          const start = i;
          while (i < field.length && !/[;, \t\r\n]/.test(field[i]!)) i++;
          value = field.slice(start, i);
        }
      }
      if (name !== "" && !Object.hasOwn(params, name)) params[name] = value;
    }
    if (malformed) continue;
    const rel = (params.rel ?? "")
      .split(/[ \t\r\n]+/)
      .filter((token) => token !== "")
      .map((token) => token.toLowerCase());
    links.push({ target, rel, params });
  }
  return links;
}
