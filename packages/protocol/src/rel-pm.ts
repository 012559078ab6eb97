/**
 * The `rel=pm` link itself (PROTOCOL.md §1): the one place that writes it — as an HTML
 * element (step 3) and as an HTTP `Link` header value (step 2) — and the one test of a
 * `rel` attribute for the token `pm`. Static-site plugins, middleware and setup tools
 * write the link with these, so what they write is what discovery reads.
 */
import { findPmLink } from "./discovery/link-header.js";

const ASCII_WHITESPACE = /[\t\n\f\r ]+/;

/**
 * PROTOCOL.md §1 step 3: true when a `rel` attribute value holds the token `pm` (HTML:
 * ASCII whitespace separated, ASCII case-insensitive; `not-pm` is not `pm`).
 */
export function relHasPm(rel: string): boolean {
  return rel.split(ASCII_WHITESPACE).some((token) => token.length === 2 && token.replace(/[A-Z]/g, (c) => c.toLowerCase()) === "pm");
}

/** Escapes a value for a double-quoted HTML attribute (`&` and `"`; `<` and `>` need nothing there). */
export function escapeAttribute(value: string): string {
  return value.replace(/&/g, "&amp;").replace(/"/g, "&quot;");
}

/**
 * PROTOCOL.md §1 step 3: the element that names `endpoint`, `<link rel="pm" href="…">`,
 * its URL written as given (pass it in canonical form) with `&` and `"` escaped.
 */
export function pmLinkElement(endpoint: string): string {
  return `<link rel="pm" href="${escapeAttribute(endpoint)}">`;
}

/**
 * PROTOCOL.md §1 step 2: the `Link` header value that names `endpoint`,
 * `<…>; rel="pm"` (RFC 8288 §3). `endpoint` is written as given: pass it in canonical
 * form, which has no `>` or space to escape.
 */
export function pmLinkHeaderValue(endpoint: string): string {
  return `<${endpoint}>; rel="pm"`;
}

/**
 * PROTOCOL.md §1 step 2: true when `Link` header values (one string per header line,
 * or combined with commas) already name a pm endpoint — a link whose `rel` holds `pm`.
 */
export function linkHeaderNamesPm(values: string | readonly string[] | null | undefined): boolean {
  return findPmLink(values) !== undefined;
}
