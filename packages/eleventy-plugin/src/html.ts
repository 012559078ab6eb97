/**
 * Where the `<link rel="pm">` goes in a page, and whether the page already names an
 * endpoint — found by scanning the text with htmlparser2's `Tokenizer`, not by building a
 * tree. A tree (posthtml through `eleventyConfig.htmlTransformer`) cost 9–13 % of a
 * 2,500-page build here. Most pages cost one regular-expression pass over their text (no
 * `rel` value mentions `pm`, so no page element can name an endpoint) and a look at their
 * first few hundred bytes; the tokenizer reads a whole page only when one might.
 *
 * The tokenizer is the HTML tokenizer: comments, the doctype, `<script>`/`<style>`/
 * `<title>`/`<textarea>` text and attribute values are tokens of their own, so a `<head>`
 * written inside any of them is not taken for one. `<template>` contents are tracked here.
 * Pages of the usual shape (`<!doctype html><html …><head …>`) are answered first by a
 * regular expression that accepts a strict subset of that shape (see `SIMPLE_HEAD`).
 *
 * **Where the link goes** (HTML's tree construction, "before head" and "in head" modes):
 * - right after the first `<head …>` start tag, in any letter case;
 * - without a `<head>` tag, where the parser opens the head by itself: before the first
 *   token other than whitespace, a comment, the doctype or `<html …>` (a start tag, text, or
 *   `</head>`/`</body>`/`</html>`/`</br>`); at the end of a document that has none. The
 *   parser then puts the link in that implied head, never before the doctype;
 * - when the head's first element is `<meta charset>`, after it, so the encoding
 *   declaration stays where its author put it within the first 1024 bytes.
 *
 * **Existing endpoints** are found as PROTOCOL.md §1 step 3 finds them (and as the core's
 * discovery does): a `<link>` or `<a>` with an `href` and a `rel` whose tokens include
 * `pm`, outside comments and `<template>` contents, attributes decoded. A page that already
 * has one costs no more than a page that has none: when the link is in a head of the
 * usual shape (the plugin's own element, as its `shortcode` writes it, or one written by
 * hand), the first place a rel=pm element could be and one anchored regular expression
 * over the head before it answer, stopping there (see `simpleHeadPmLink`).
 *
 * **Whole documents only** (`isWholeDocument`): Eleventy also runs transforms on fragments
 * with an `.html` output path — the `renderTransforms` filter of feeds (eleventy-plugin-rss)
 * passes each post's content with the post's own page. A browser would open a head for a
 * fragment too, so the rule is the author's intent as the start of the text shows it: a
 * whole document declares itself with a doctype or an `<html>`, `<head>` or `<body>` start
 * tag — the document's own structure, which no fragment has — before its first body content. Only whitespace, a byte order mark, comments (and what HTML reads as
 * comments: `<?xml …?>`, `<![CDATA[…]]>`, `<!other>`), end tags, and the head's own elements
 * (`<base>`, `<basefont>`, `<bgsound>`, `<link>`, `<meta>`, `<title>`, `<style>`,
 * `<script>`, `<noscript>`, `<noframes>`, `<template>`, with their contents) may come
 * before it. Anything else — another start tag (`<p>`, `<h1>`, `<img>`), text, `</br>`
 * (read as `<br>`) — is body content, and the text is a fragment: left byte for byte.
 * So is a text that is only head elements (a `<link>`-only fragment). A page without a
 * doctype, `<html>`, `<head>` or `<body>` (`<title>t</title><p>x`) is a fragment by this
 * rule: give it a doctype, as every layout should have.
 */
import { escapeAttribute, pmLinkElement, relHasPm } from "@indiepm/protocol";
import { QuoteType, Tokenizer, type TokenizerCallbacks } from "@indiepm/protocol/html-tokenizer";

/** A rel=pm `<link>`/`<a>` found in a page, with where its `href` attribute is written. */
export interface PmLinkInPage {
  element: "link" | "a";
  /** The `href` value, character references decoded. */
  href: string;
  /** Index just after the attribute name `href`. */
  nameEnd: number;
  /** The raw value's span (without quotes); both `-1` when the attribute has no value. */
  valueStart: number;
  valueEnd: number;
  quote: QuoteType;
}

export type InjectionOutcome =
  /** Not a whole document (a feed entry's content, say): unchanged, byte for byte. */
  | "fragment"
  /** The link was inserted. */
  | "inserted"
  /** The page already names the endpoint; unchanged. */
  | "present"
  /** The page names another endpoint and `replace` is off; unchanged. */
  | "other"
  /** `replace`: the page's rel=pm links now name the endpoint. */
  | "replaced";

export interface Injection {
  html: string;
  outcome: InjectionOutcome;
}

const noop = (): void => {};
const NO_CALLBACKS: TokenizerCallbacks = {
  onattribdata: noop,
  onattribentity: noop,
  onattribend: noop,
  onattribname: noop,
  oncdata: noop,
  onclosetag: noop,
  oncomment: noop,
  ondeclaration: noop,
  onend: noop,
  onopentagend: noop,
  onopentagname: noop,
  onprocessinginstruction: noop,
  onselfclosingtag: noop,
  ontext: noop,
  ontextentity: noop,
};

/** ASCII whitespace as HTML defines it (tab, LF, FF, CR, space). */
function isHtmlSpace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x09 || code === 0x0c || code === 0x0d;
}

/** Lower-cases ASCII letters only, as HTML does for tag and attribute names. */
function asciiLower(s: string): string {
  // Runs of A–Z only: `toLowerCase` on the whole string would also fold non-ASCII (the Kelvin sign to "k").
  return /[A-Z]/.test(s) ? s.replace(/[A-Z]+/g, (run) => run.toLowerCase()) : s;
}

/** True when `html.slice(start, end)` is `name` (already lower case), ASCII case-insensitively. */
function nameIs(html: string, start: number, end: number, name: string): boolean {
  return end - start === name.length && asciiLower(html.slice(start, end)) === name;
}

// The fast path: most pages start `<!doctype html><html …><head …>`. These patterns accept
// only a strict subset of what the tokenizer accepts (HTML whitespace only, no comments,
// attributes separated by whitespace, names without quotes or `<`), so when they match,
// the tokenizer would have found the same index; anything else goes to the tokenizer.
// Native regular expressions skip the JIT warm-up that a few thousand tokenizer calls in a
// fresh build process pay (measured: ~20 µs a page cold, ~1.5 µs warm).
const WS = "[\\t\\n\\f\\r ]";
const ATTRIBUTE = `${WS}+([^\\t\\n\\f\\r "'<>/=]+)(?:${WS}*=${WS}*(?:"[^"]*"|'[^']*'|[^\\t\\n\\f\\r "'=<>\`]+))?`;
const ATTRIBUTES = `(?:${ATTRIBUTE.replace("(", "(?:")})*${WS}*/?`;
const SIMPLE_HEAD = new RegExp(`^\\uFEFF?(?:${WS}|<!doctype[^>]*>)*(?:<html${ATTRIBUTES}>${WS}*)?<head${ATTRIBUTES}>`, "i");
const SIMPLE_META = new RegExp(`${WS}*<meta(${ATTRIBUTES})>`, "iy");
const ONE_ATTRIBUTE = new RegExp(ATTRIBUTE, "y");
const AFTER_WS = new RegExp(`${WS}*`, "y");

/** The fast path's answer, or `undefined` when the page is not of the simple shape. */
export function simpleHeadInsertionIndex(html: string): number | undefined {
  const head = SIMPLE_HEAD.exec(html);
  if (!head) return undefined;
  const afterHead = head[0].length;
  SIMPLE_META.lastIndex = afterHead;
  const meta = SIMPLE_META.exec(html);
  if (meta) {
    const attributes = meta[1]!;
    ONE_ATTRIBUTE.lastIndex = 0;
    for (let a = ONE_ATTRIBUTE.exec(attributes); a; a = ONE_ATTRIBUTE.exec(attributes)) {
      if (asciiLower(a[1]!) === "charset") return SIMPLE_META.lastIndex;
    }
    return afterHead;
  }
  AFTER_WS.lastIndex = afterHead;
  AFTER_WS.exec(html);
  const next = html.slice(AFTER_WS.lastIndex, AFTER_WS.lastIndex + 5);
  // A comment may hide a <meta charset> behind it, and a <meta> the pattern did not take may have one.
  if (next.startsWith("<!") || next.startsWith("<?") || asciiLower(next) === "<meta") return undefined;
  return afterHead;
}

/**
 * The index at which to insert into `html` so that the element lands at the start of
 * the document's head (see the module comment).
 */
export function headInsertionIndex(html: string): number {
  return simpleHeadInsertionIndex(html) ?? tokenizerHeadInsertionIndex(html);
}

/** `headInsertionIndex` by the tokenizer alone (exported for the tests that hold the fast path to it). */
export function tokenizerHeadInsertionIndex(html: string): number {
  let insertAt = -1;
  let inHead = false; // after <head> or the implied head's start: looking at its first element
  let tag: "html" | "head" | "first" | "other" = "other";
  let tagIsMeta = false;
  let metaHasCharset = false;

  const tokenizer = new Tokenizer(
    { decodeEntities: false },
    {
      ...NO_CALLBACKS,
      onopentagname(start, end) {
        const isMeta = nameIs(html, start, end, "meta");
        if (inHead) {
          tag = "first";
        } else if (nameIs(html, start, end, "html")) {
          tag = "html"; // the html element's own start tag: the head is still to come
        } else if (nameIs(html, start, end, "head")) {
          tag = "head";
        } else {
          insertAt = start - 1; // any other start tag opens the head by itself, before the tag
          inHead = true;
          tag = "first";
        }
        tagIsMeta = isMeta;
        metaHasCharset = false;
      },
      onattribname(start, end) {
        if (tag === "first" && tagIsMeta && nameIs(html, start, end, "charset")) metaHasCharset = true;
      },
      onopentagend(endIndex) {
        endOfStartTag(endIndex);
      },
      onselfclosingtag(endIndex) {
        endOfStartTag(endIndex);
      },
      ontext(start, end) {
        let i = start;
        while (i < end && (isHtmlSpace(html.charCodeAt(i)) || (i === 0 && html.charCodeAt(0) === 0xfeff))) i++;
        if (i === end) return;
        if (!inHead) insertAt = i; // text opens the head by itself
        stop();
      },
      onclosetag(start, end) {
        if (inHead) return stop();
        // "before head": these end tags open the head by themselves, the others are ignored.
        if (nameIs(html, start, end, "head") || nameIs(html, start, end, "body") || nameIs(html, start, end, "html") || nameIs(html, start, end, "br")) {
          insertAt = start - 2;
          stop();
        }
      },
    },
  );

  function endOfStartTag(endIndex: number): void {
    if (tag === "head") {
      insertAt = endIndex + 1;
      inHead = true;
    } else if (tag === "first") {
      if (tagIsMeta && metaHasCharset) insertAt = endIndex + 1;
      stop();
    }
    tag = "other";
  }

  let stopped = false;
  function stop(): void {
    stopped = true;
    tokenizer.pause();
  }

  tokenizer.write(html);
  if (!stopped) tokenizer.end();
  // A document of nothing but whitespace, comments, a doctype and <html>/<head> start tags:
  // the head (implied or not) is open at its end.
  return insertAt === -1 ? html.length : insertAt;
}

// Whole documents (see the module comment). The fast path: a doctype or `<html>`, `<head>`,
// `<body>` start tag right at the start, after whitespace only — what every layout writes.
const DOCUMENT_START = new RegExp(`^\\uFEFF?${WS}*<(?:!doctype|(?:html|head|body)(?:${WS}|/|>))`, "i");
/** The start tags of the document's own structure. */
const DOCUMENT_ELEMENTS = new Set(["html", "head", "body"]);

/** The head's own start tags ("in head" insertion mode): they do not open the body. */
const HEAD_ELEMENTS = new Set(["base", "basefont", "bgsound", "link", "meta", "title", "style", "script", "noscript", "noframes", "template"]);
/** Head elements whose contents are text to the tokenizer (and to a browser). */
const RAW_TEXT_HEAD_ELEMENTS = new Set(["title", "style", "script", "noframes"]);

/**
 * True when `html` is a whole document, not a fragment: a doctype or an `<html>`, `<head>`
 * or `<body>` start tag comes before its first body content (see the module comment).
 */
export function isWholeDocument(html: string): boolean {
  return DOCUMENT_START.test(html) || tokenizerIsWholeDocument(html);
}

/** `isWholeDocument` by the tokenizer alone (exported for the tests that hold the fast path to it). */
export function tokenizerIsWholeDocument(html: string): boolean {
  let answer = false;
  let rawText: string | undefined; // in <title>, <style>, <script>, <noframes>: their text is theirs
  let templateDepth = 0; // in <template> contents, which are not the document's
  let inNoscript = false; // <noscript> in the head is text to a browser with scripting on

  const tokenizer = new Tokenizer(
    { decodeEntities: false },
    {
      ...NO_CALLBACKS,
      ondeclaration(start) {
        // `<!doctype …>`; any other `<!…>` is a bogus comment to HTML.
        if (templateDepth === 0 && !inNoscript && nameIs(html, start, Math.min(start + 7, html.length), "doctype")) decide(true);
      },
      onopentagname(start, end) {
        const name = asciiLower(html.slice(start, end));
        if (templateDepth > 0 || inNoscript) {
          if (name === "template") templateDepth++;
          return;
        }
        if (DOCUMENT_ELEMENTS.has(name)) return decide(true);
        if (!HEAD_ELEMENTS.has(name)) return decide(false);
        if (name === "template") templateDepth++;
        else if (name === "noscript") inNoscript = true;
        else if (RAW_TEXT_HEAD_ELEMENTS.has(name)) rawText = name;
      },
      onclosetag(start, end) {
        const name = asciiLower(html.slice(start, end));
        if (name === rawText) rawText = undefined;
        else if (templateDepth > 0) {
          if (name === "template") templateDepth--;
        } else if (inNoscript) {
          if (name === "noscript") inNoscript = false;
        } else if (name === "br") decide(false); // `</br>` is read as `<br>`
      },
      ontext(start, end) {
        if (rawText !== undefined || templateDepth > 0 || inNoscript) return;
        let i = start;
        while (i < end && (isHtmlSpace(html.charCodeAt(i)) || (i === 0 && html.charCodeAt(0) === 0xfeff))) i++;
        if (i < end) decide(false);
      },
    },
  );

  let stopped = false;
  function decide(whole: boolean): void {
    answer = whole;
    stopped = true;
    tokenizer.pause();
  }

  tokenizer.write(html);
  if (!stopped) tokenizer.end();
  return answer; // nothing but whitespace, comments and head elements: a fragment
}

/** Decodes character references in a raw attribute value, with the tokenizer's own decoder. */
function decodeAttribute(raw: string, quote: QuoteType): string {
  if (!raw.includes("&")) return raw;
  const q = quote === QuoteType.Single ? "'" : quote === QuoteType.Double ? '"' : "";
  const source = `<x a=${q}${raw}${q}>`;
  let out = "";
  const tokenizer = new Tokenizer(
    { decodeEntities: true },
    {
      ...NO_CALLBACKS,
      onattribdata(start, end) {
        out += source.slice(start, end);
      },
      onattribentity(codepoint) {
        out += String.fromCodePoint(codepoint);
      },
    },
  );
  tokenizer.write(source);
  tokenizer.end();
  return out;
}

/**
 * A cheap test that `html` cannot hold a rel=pm element: every `rel` value with the token
 * `pm` contains the letters (in some case) or a character reference. A match only means
 * "scan to be sure".
 */
const MAY_NAME_PM = /rel\s*=\s*(?:"[^"]*?(?:pm|&)|'[^']*?(?:pm|&)|[^\s>]*?(?:pm|&))/i;

interface Attribute {
  nameEnd: number;
  valueStart: number;
  valueEnd: number;
  quote: QuoteType;
}

/**
 * The rel=pm `<link>`/`<a>` elements of `html` in document order (the first one only,
 * unless `all`), outside comments and `<template>` contents.
 */
export function findPmLinks(html: string, options: { all?: boolean } = {}): PmLinkInPage[] {
  const candidate = MAY_NAME_PM.exec(html);
  if (!candidate) return [];
  const first = simpleHeadPmLink(html, candidate.index);
  if (first !== undefined) {
    // Everything before it was read as simple head elements, so it is the page's first.
    if (!options.all) return [first.link];
    // Any later rel=pm element would make the cheap test match again after this one.
    MAY_NAME_PM_FROM.lastIndex = first.end;
    if (!MAY_NAME_PM_FROM.test(html)) return [first.link];
  }
  return tokenizerFindPmLinks(html, options);
}

// The fast path for pages that already name an endpoint in a head of the usual shape
// (issue 9 item 13: such a page must cost no more to scan than one without the link).
// `MAY_NAME_PM` finds the first place a rel=pm element could be; when that is a `<link>`
// whose start tag follows `SIMPLE_HEAD` after nothing but head elements of simple shape —
// `<meta>`, `<link>`, `<base>` with simple attributes, `<title>` text without `<`,
// `<style>`/`<script>` text without `</` or `<!` (so the first `</` is their end tag, for
// the tokenizer and a browser alike) — it is the page's first rel=pm element: any earlier
// one would have matched `MAY_NAME_PM` first. One anchored test of that stretch and one
// parse of the link's attributes answer, however long the page. Like `SIMPLE_HEAD`, these
// patterns accept a strict subset of what the tokenizer accepts; anything else (a comment,
// `<noscript>`, `<template>`, `</head>`, text, a `<` in an attribute value) goes to it.
const MAY_NAME_PM_FROM = new RegExp(MAY_NAME_PM.source, "gi");
const RAW_TEXT = "[^<]*(?:<(?![/!])[^<]*)*";
const SIMPLE_HEAD_ITEMS = new RegExp(
  `^(?:${WS}*(?:<(?:meta|link|base)${ATTRIBUTES}>|<title${ATTRIBUTES}>[^<]*</title${WS}*>|<style${ATTRIBUTES}>${RAW_TEXT}</style${WS}*>|<script${ATTRIBUTES}>${RAW_TEXT}</script${WS}*>))*${WS}*$`,
  "i",
);
const SIMPLE_LINK = new RegExp(`<link(${ATTRIBUTES})>`, "iy");
/** How `pmLinkElement` starts (`<link rel="pm" href="`): such a link, its value without `"` or `<`, is read without parsing. */
const OWN_LINK_START = pmLinkElement("").slice(0, -'">'.length);
/** One attribute, its parts captured: leading whitespace, name, and a double-quoted, single-quoted or unquoted value. */
const ATTRIBUTE_PARTS = new RegExp(`(${WS}+)([^\\t\\n\\f\\r "'<>/=]+)(?:${WS}*=${WS}*(?:"([^"]*)"|'([^']*)'|([^\\t\\n\\f\\r "'=<>\`]+)))?`, "y");

/**
 * The first rel=pm `<link>` of a page whose head, up to that link, is of the simple shape
 * (with `end`, the index just after it); `undefined` when the page is not of that shape or
 * the first place a rel=pm element could be is not such a link — then the tokenizer decides.
 * `candidate`: where `MAY_NAME_PM` first matches, when the caller already knows.
 */
export function simpleHeadPmLink(html: string, candidate?: number): { link: PmLinkInPage; end: number } | undefined {
  const at = candidate ?? MAY_NAME_PM.exec(html)?.index;
  if (at === undefined) return undefined;
  const head = SIMPLE_HEAD.exec(html);
  if (!head) return undefined;
  const afterHead = head[0].length;
  const tagStart = html.lastIndexOf("<", at);
  if (tagStart < afterHead || !SIMPLE_HEAD_ITEMS.test(html.slice(afterHead, tagStart))) return undefined;
  // The plugin's own element (the shortcode's, or written the same way): nothing to parse.
  if (html.startsWith(OWN_LINK_START, tagStart)) {
    const valueStart = tagStart + OWN_LINK_START.length;
    const valueEnd = html.indexOf('"', valueStart);
    if (valueEnd !== -1 && html.charCodeAt(valueEnd + 1) === 0x3e /* > */) {
      const raw = html.slice(valueStart, valueEnd);
      if (!raw.includes("<")) {
        const link: PmLinkInPage = {
          element: "link",
          href: decodeAttribute(raw, QuoteType.Double),
          nameEnd: valueStart - 2,
          valueStart,
          valueEnd,
          quote: QuoteType.Double,
        };
        return { link, end: valueEnd + 2 };
      }
    }
  }
  SIMPLE_LINK.lastIndex = tagStart;
  const item = SIMPLE_LINK.exec(html);
  if (!item) return undefined;
  const end = SIMPLE_LINK.lastIndex;
  // The attributes start after `<link`, just before `item[1]`, which ends before the `>`.
  const attributesEnd = end - 1;
  let rel: Attribute | undefined;
  let href: Attribute | undefined;
  ATTRIBUTE_PARTS.lastIndex = attributesEnd - item[1]!.length;
  for (let a = ATTRIBUTE_PARTS.exec(html); a && a.index < attributesEnd; a = ATTRIBUTE_PARTS.exec(html)) {
    const name = asciiLower(a[2]!);
    // Of a repeated attribute the first wins.
    if (name === "rel" ? rel !== undefined : name !== "href" || href !== undefined) continue;
    const nameEnd = a.index + a[1]!.length + a[2]!.length;
    const matchEnd = a.index + a[0].length;
    const attribute: Attribute =
      a[3] !== undefined
        ? { nameEnd, valueStart: matchEnd - 1 - a[3].length, valueEnd: matchEnd - 1, quote: QuoteType.Double }
        : a[4] !== undefined
          ? { nameEnd, valueStart: matchEnd - 1 - a[4].length, valueEnd: matchEnd - 1, quote: QuoteType.Single }
          : a[5] !== undefined
            ? { nameEnd, valueStart: matchEnd - a[5].length, valueEnd: matchEnd, quote: QuoteType.Unquoted }
            : { nameEnd, valueStart: -1, valueEnd: -1, quote: QuoteType.NoValue };
    if (name === "rel") rel = attribute;
    else href = attribute;
  }
  // Not a rel=pm link after all (the match was in another attribute): the tokenizer decides.
  if (!rel || !href || !relHasPm(attributeValue(html, rel))) return undefined;
  return { link: { element: "link", href: attributeValue(html, href), ...href }, end };
}

function attributeValue(html: string, a: Attribute): string {
  return a.valueStart === -1 ? "" : decodeAttribute(html.slice(a.valueStart, a.valueEnd), a.quote);
}

/** `findPmLinks` by the tokenizer alone (exported for the tests that hold the fast path to it). */
export function tokenizerFindPmLinks(html: string, options: { all?: boolean } = {}): PmLinkInPage[] {
  const found: PmLinkInPage[] = [];
  let templateDepth = 0;
  let element: "link" | "a" | undefined;
  let attributes = new Map<string, Attribute>();
  let name: string | undefined;
  let current: Attribute | undefined;

  const tokenizer = new Tokenizer(
    { decodeEntities: false },
    {
      ...NO_CALLBACKS,
      onopentagname(start, end) {
        element = undefined;
        if (nameIs(html, start, end, "template")) templateDepth++;
        else if (templateDepth === 0 && nameIs(html, start, end, "a")) element = "a";
        else if (templateDepth === 0 && nameIs(html, start, end, "link")) element = "link";
        if (element) attributes = new Map();
      },
      onattribname(start, end) {
        if (!element) return;
        name = asciiLower(html.slice(start, end));
        current = { nameEnd: end, valueStart: -1, valueEnd: -1, quote: QuoteType.NoValue };
      },
      onattribdata(start, end) {
        if (!current) return;
        if (current.valueStart === -1) current.valueStart = start;
        current.valueEnd = end;
      },
      onattribend(quote) {
        if (!current || name === undefined) return;
        current.quote = quote;
        if (!attributes.has(name)) attributes.set(name, current); // of a repeated attribute the first wins
        current = undefined;
        name = undefined;
      },
      onopentagend() {
        endOfStartTag();
      },
      onselfclosingtag() {
        endOfStartTag();
      },
      onclosetag(start, end) {
        if (templateDepth > 0 && nameIs(html, start, end, "template")) templateDepth--;
      },
    },
  );

  const valueOfAttribute = (a: Attribute): string => attributeValue(html, a);

  function endOfStartTag(): void {
    if (!element) return;
    const rel = attributes.get("rel");
    const href = attributes.get("href");
    if (rel && href && relHasPm(valueOfAttribute(rel))) {
      found.push({ element, href: valueOfAttribute(href), ...href });
      if (!options.all) tokenizer.pause();
    }
    element = undefined;
  }

  tokenizer.write(html);
  if (tokenizer.running) tokenizer.end();
  return found;
}

/** True when an `href` as written names `endpoint` (compared in canonical form, PROTOCOL.md "URLs"). */
export function namesEndpoint(href: string, endpoint: string): boolean {
  const trimmed = href.trim();
  return trimmed === endpoint || (URL.canParse(trimmed) && new URL(trimmed).href === endpoint);
}

/**
 * Puts `<link rel="pm" href="endpoint">` at the start of `html`'s head, unless the page
 * already names a rel=pm endpoint: then the page is returned as it is, or with `replace`,
 * with the `href` of each of its rel=pm links set to `endpoint`. A fragment (not a whole
 * document, `isWholeDocument`) is returned as it is.
 */
export function injectPmLink(html: string, endpoint: string, options: { replace?: boolean } = {}): Injection {
  return pmLinkInjector(endpoint, options)(html);
}

/** `injectPmLink` for one endpoint, with the element and attribute value built once (the transform runs on every page). */
export function pmLinkInjector(endpoint: string, options: { replace?: boolean } = {}): (html: string) => Injection {
  const element = pmLinkElement(endpoint);
  const value = `"${escapeAttribute(endpoint)}"`;
  return (html) => inject(html, endpoint, element, value, options.replace === true);
}

function inject(html: string, endpoint: string, element: string, value: string, replace: boolean): Injection {
  if (!isWholeDocument(html)) return { html, outcome: "fragment" };
  const existing = findPmLinks(html, { all: replace });
  if (existing.length > 0) {
    if (!replace) return { html, outcome: namesEndpoint(existing[0]!.href, endpoint) ? "present" : "other" };
    const stale = existing.filter((link) => !namesEndpoint(link.href, endpoint));
    if (stale.length === 0) return { html, outcome: "present" };
    let out = html;
    for (const link of stale.reverse()) {
      // Back to front, so the earlier indices still hold.
      out =
        link.valueStart === -1
          ? `${out.slice(0, link.nameEnd)}=${value}${out.slice(link.nameEnd)}`
          : link.quote === QuoteType.Double || link.quote === QuoteType.Single
            ? `${out.slice(0, link.valueStart - 1)}${value}${out.slice(link.valueEnd + 1)}`
            : `${out.slice(0, link.valueStart)}${value}${out.slice(link.valueEnd)}`;
    }
    return { html: out, outcome: "replaced" };
  }
  const at = headInsertionIndex(html);
  return { html: html.slice(0, at) + element + html.slice(at), outcome: "inserted" };
}
