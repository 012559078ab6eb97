/**
 * The `rel=pm` link in Ghost's site-wide code injection (`codeinjection_head`, printed
 * by `{{ghost_head}}` on every page), as pure functions of the owner's HTML: find the
 * `<link>` elements whose `rel` names `pm` (PROTOCOL.md §1 step 3), replace or remove
 * them, append one. Every other byte the owner wrote (comments, scripts, formatting)
 * is kept, and the rule needs no marker comment: the wanted state is "exactly one
 * `<link rel=pm>` naming the endpoint", so a second run finds it and changes nothing.
 */
import { pmLinkElement, relHasPm } from "@indiepm/protocol";
import { Parser } from "@indiepm/protocol/html-tokenizer";
import { GhostError } from "./errors.js";

/** A `<link>` element of the code injection whose `rel` names `pm`. */
export interface PmLinkElement {
  /** Offset of its `<` in the code injection. */
  start: number;
  /** Offset just past its `>`. */
  end: number;
  /** The element as the owner wrote it. */
  source: string;
  /** Its `href`, character references decoded; `undefined` when it has none. */
  href: string | undefined;
}

export type CodeInjectionAction = "added" | "replaced" | "removed" | "unchanged";

export interface CodeInjectionChange {
  /** The new code injection. */
  html: string;
  /** `added`: there was no pm link; `replaced`: one or more were rewritten or dropped; `removed`; `unchanged`. */
  action: CodeInjectionAction;
  changed: boolean;
  /** The pm links found before the change. */
  found: PmLinkElement[];
}

/**
 * The `<link>` elements of `html` whose `rel` tokens include `pm`, in document order.
 * Parsed as browsers and the discovery of PROTOCOL.md §1 do (htmlparser2): a link in a
 * comment, a `<script>` or a `<style>` is not an element and is left alone.
 */
export function findPmLinks(html: string): PmLinkElement[] {
  const found: PmLinkElement[] = [];
  const parser = new Parser(
    {
      onopentag(name, attribs) {
        if (name !== "link" || attribs.rel === undefined || !relHasPm(attribs.rel)) return;
        const start = parser.startIndex;
        const end = parser.endIndex + 1;
        found.push({ start, end, source: html.slice(start, end), href: attribs.href });
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.write(html);
  parser.end();
  return found;
}

/** The element `setPmLink` writes: `<link rel="pm" href="ENDPOINT">` (`@indiepm/protocol`'s `pmLinkElement`). */
export function pmLinkTag(endpoint: string): string {
  return pmLinkElement(endpoint);
}

function sameUrl(href: string | undefined, endpoint: string): boolean {
  if (href === undefined) return false;
  if (href === endpoint) return true;
  return URL.canParse(href) && URL.canParse(endpoint) && new URL(href).href === new URL(endpoint).href;
}

function newlineOf(html: string): string {
  return html.includes("\r\n") ? "\r\n" : "\n";
}

/**
 * The range to cut to remove `element`: its whole line (with one line break) when
 * nothing but blanks shares the line, else the element alone. Appending with
 * `appendLine` and removing with this give back the original bytes.
 */
function cutRange(html: string, element: PmLinkElement): [number, number] {
  const lineStart = html.lastIndexOf("\n", element.start - 1) + 1;
  const newline = html.indexOf("\n", element.end);
  const lineEnd = newline === -1 ? html.length : newline;
  const blank = /^[ \t\r\f]*$/;
  if (!blank.test(html.slice(lineStart, element.start)) || !blank.test(html.slice(element.end, lineEnd))) {
    return [element.start, element.end];
  }
  if (newline !== -1) return [lineStart, newline + 1];
  if (lineStart === 0) return [0, html.length];
  // The last line: take the line break before it instead.
  return [html[lineStart - 2] === "\r" ? lineStart - 2 : lineStart - 1, html.length];
}

function withoutElements(html: string, elements: readonly PmLinkElement[]): string {
  let result = html;
  for (const element of [...elements].reverse()) {
    const [from, to] = cutRange(result, element);
    result = result.slice(0, from) + result.slice(to);
  }
  return result;
}

function appendLine(html: string, line: string): string {
  if (html === "") return line;
  const newline = newlineOf(html);
  return html.endsWith("\n") ? `${html}${line}${newline}` : `${html}${newline}${line}`;
}

/**
 * Makes `html` name `endpoint` with exactly one `<link rel="pm">`: unchanged when it
 * already does; else the first pm link is rewritten where it stands and any others are
 * removed; with none, the link is appended on a line of its own.
 */
export function setPmLink(html: string, endpoint: string): CodeInjectionChange {
  const found = findPmLinks(html);
  const [first, ...rest] = found;
  if (first === undefined) {
    const appended = appendLine(html, pmLinkTag(endpoint));
    if (findPmLinks(appended).length !== 1) {
      // What follows an unclosed <script>, <style> or comment is not an element.
      throw new GhostError(
        "invalid_code_injection",
        "the site header's code injection ends inside an unclosed <script>, <style>, <textarea> or comment, so a link appended to it would not be an element; close it in Ghost Admin → Settings → Code injection first",
      );
    }
    return { html: appended, action: "added", changed: true, found };
  }
  if (rest.length === 0 && sameUrl(first.href, endpoint)) {
    return { html, action: "unchanged", changed: false, found };
  }
  const kept = sameUrl(first.href, endpoint) ? first.source : pmLinkTag(endpoint);
  const trimmed = withoutElements(html, rest);
  return { html: trimmed.slice(0, first.start) + kept + trimmed.slice(first.end), action: "replaced", changed: true, found };
}

/** Removes every `<link rel=pm>` from `html` (with its line, when it stood alone on one). */
export function removePmLink(html: string): CodeInjectionChange {
  const found = findPmLinks(html);
  if (found.length === 0) return { html, action: "unchanged", changed: false, found };
  return { html: withoutElements(html, found), action: "removed", changed: true, found };
}
