/**
 * The `headers` option: `Link: <endpoint>; rel="pm"` rules in a `_headers` file, the
 * format Netlify and Cloudflare Pages read from the output folder — so a static host
 * names the endpoint in the HTTP answer too, which PROTOCOL.md §1 step 2 reads first.
 *
 * The format: a line with a path (or pattern such as `/*`), then indented
 * `Name: value` lines; `#` starts a comment. Netlify lets a later rule's header replace an
 * earlier one's for the same path, while the values of one rule are joined; Cloudflare
 * joins all. So the link goes into the site's own rule for the same path when there is
 * one, and into a rule of its own otherwise.
 *
 * Every line the plugin adds is preceded by the comment `MARKER`. Merging first removes
 * what an earlier build added, so the file never collects copies, even when the output
 * folder is not cleaned between builds, and a changed endpoint leaves nothing stale.
 */

import { linkHeaderNamesPm, pmLinkHeaderValue } from "@indiepm/protocol";
import type { PageScope } from "./options.js";

export const MARKER = "# rel=pm endpoint, added by @indiepm/eleventy-plugin";

/** The header line for `endpoint` (its URL is already in canonical, percent-encoded form). */
export function pmLinkHeader(endpoint: string): string {
  return `Link: ${pmLinkHeaderValue(endpoint)}`;
}

/** Splits a `Link` header value into its links, at commas outside `<…>` and quotes. */
function splitLinkValue(value: string): string[] {
  const links: string[] = [];
  let start = 0;
  let inTarget = false;
  let inQuote = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (inQuote) {
      if (c === "\\") i++;
      else if (c === '"') inQuote = false;
    } else if (inTarget) {
      if (c === ">") inTarget = false;
    } else if (c === "<") inTarget = true;
    else if (c === '"') inQuote = true;
    else if (c === ",") {
      links.push(value.slice(start, i));
      start = i + 1;
    }
  }
  links.push(value.slice(start));
  return links.filter((l) => l.trim() !== "");
}

const isComment = (line: string): boolean => line.trimStart().startsWith("#");
const isBlank = (line: string): boolean => line.trim() === "";
const isIndented = (line: string): boolean => /^[ \t]/.test(line) && !isBlank(line);
const headerOf = (line: string): { name: string; value: string } | undefined => {
  const match = /^\s*([^:\s]+)\s*:\s*(.*)$/.exec(line);
  return match ? { name: match[1]!.toLowerCase(), value: match[2]! } : undefined;
};

/** Removes every line an earlier build added: the marker, and the header line or rule after it. */
export function removeAddedLines(lines: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== MARKER) {
      out.push(lines[i]!);
      continue;
    }
    const next = lines[i + 1];
    if (next === undefined) continue;
    i++; // the marked line: a header line, or the path line of a rule of our own
    if (!isIndented(next)) while (i + 1 < lines.length && isIndented(lines[i + 1]!)) i++;
  }
  while (out.length > 0 && isBlank(out.at(-1)!)) out.pop();
  return out;
}

/**
 * Merges `Link: <endpoint>; rel="pm"` for each path of `paths` into the `_headers` text
 * `existing` (`""` when there is none) and returns the new text, or `""` when nothing is
 * left. A site rule for exactly that path receives the line; a path without one gets a
 * rule of its own at the end. A site rule that already names a rel=pm endpoint is left
 * as it is, or with `replace`, loses its rel=pm links to ours.
 */
export function mergeHeaders(existing: string, paths: readonly string[], endpoint: string, options: { replace?: boolean } = {}): string {
  const newline = existing.includes("\r\n") ? "\r\n" : "\n";
  const lines = removeAddedLines(existing === "" ? [] : existing.split(/\r?\n/));
  const header = pmLinkHeader(endpoint);
  const pending: string[] = [];

  for (const path of paths) {
    // The site's last rule for this path: on Netlify the last one's headers win.
    let ruleStart = -1;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (!isIndented(line) && !isComment(line) && !isBlank(line) && line.trim() === path) ruleStart = i;
    }
    if (ruleStart === -1) {
      pending.push(path);
      continue;
    }
    let ruleEnd = ruleStart + 1;
    while (ruleEnd < lines.length && (isIndented(lines[ruleEnd]!) || (isComment(lines[ruleEnd]!) && /^[ \t]/.test(lines[ruleEnd]!)))) ruleEnd++;
    const body = lines.slice(ruleStart + 1, ruleEnd);
    const pmLines = body.flatMap((line, i) => {
      const h = headerOf(line);
      return h && !isComment(line) && h.name === "link" && linkHeaderNamesPm(h.value) ? [i] : [];
    });
    if (pmLines.length > 0 && !options.replace) continue; // the site names an endpoint for this path itself
    const indent = /^[ \t]+/.exec(body.find((l) => isIndented(l) && !isComment(l)) ?? "")?.[0] ?? "  ";
    const kept = body.flatMap((line, i) => {
      if (!pmLines.includes(i)) return [line];
      const rest = splitLinkValue(headerOf(line)!.value)
        .filter((l) => !linkHeaderNamesPm(l))
        .map((l) => l.trim());
      return rest.length > 0 ? [`${indent}Link: ${rest.join(", ")}`] : [];
    });
    lines.splice(ruleStart + 1, body.length, ...kept, `${indent}${MARKER}`, `${indent}${header}`);
  }

  if (pending.length > 0) {
    if (lines.length > 0) lines.push("");
    for (const path of pending) lines.push(MARKER, path, `  ${header}`);
  }
  return lines.length === 0 ? "" : lines.join(newline) + newline;
}

/** What the transform learnt about one HTML output. */
export interface PageRecord {
  /** `page.url` (without pathPrefix: the path as the host serves the output folder). */
  url: string;
  /** The page's first rel=pm link names the endpoint (put there by the plugin or by hand). */
  namesEndpoint: boolean;
}

/**
 * The paths that get the header: `/*` when the plugin covers every page and every HTML
 * page names the endpoint; otherwise one rule for each page that names it. (Cloudflare
 * Pages reads at most 100 rules; a site that limits `pages` keeps well under that.)
 */
export function headerPaths(pages: Iterable<PageRecord>, scope: PageScope): string[] {
  const all = [...pages];
  const naming = all.filter((p) => p.namesEndpoint);
  if (naming.length === 0) return [];
  if (scope.kind === "all" && naming.length === all.length) return ["/*"];
  return [...new Set(naming.map((p) => p.url))].sort();
}
