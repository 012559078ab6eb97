/**
 * PROTOCOL.md §1 steps 3–4 on an HTML body, streaming: htmlparser2's tokenizer is fed
 * the body as it arrives and the read stops once the answer is known ("a parser MAY
 * stop at the first match"), so a 2 MiB page with its `rel=pm` in the head costs a few
 * kilobytes of parsing, not a DOM.
 *
 * What counts, as a browser's DOM would have it:
 * - the first `<link>` or `<a>` (any case) with an `href` and a `rel` whose
 *   whitespace-separated tokens include `pm` (ASCII case-insensitive); `not-pm` is not `pm`;
 * - comments, `<script>`/`<style>`/`<title>`/`<textarea>`/`<xmp>`/`<iframe>`/
 *   `<noembed>`/`<noframes>` text, and the contents of `<template>` (inert, not in the
 *   document's tree) hold no elements;
 * - `<noscript>` contents are elements, as in a DOM built without scripting (jsdom's
 *   default, and every server-side parser);
 * - attributes have their character references decoded; of a repeated attribute the first wins.
 *
 * The base URL (§1 step 4, "the first `<base href>` where the page has one"): a browser
 * uses the first `<base>` with an `href` anywhere in the tree. HTML requires that
 * element to be in the head and before any element with a URL attribute, so in a
 * conforming page it is always seen before the match. For pages that put it after the
 * match, parsing goes on to the end of the head (`</head>`, `<body>`, or the first
 * element that only the body may hold) and takes a `<base href>` found there; one that
 * appears only after that is not seen — the price of stopping early, which §1 allows.
 */
import { Parser } from "htmlparser2";
import { relHasPm } from "../rel-pm.js";

/** The `rel=pm` element found, its attributes decoded but its URLs not yet resolved. */
export interface PmLinkMatch {
  element: "link" | "a";
  /** The `href` attribute as written (character references decoded); may be relative or empty. */
  href: string;
  /** `href` of the document's first `<base href>` (see the module comment), or `undefined`. */
  baseHref: string | undefined;
}

export interface PmLinkFinder {
  /**
   * Feeds the next piece of the document (bytes in the finder's charset, or text).
   * Returns `true` once the answer is settled and no more input is needed — the
   * signal for `HttpGetOptions.stopWhen`.
   */
  write(chunk: Uint8Array | string): boolean;
  /** No more input: flushes the parser and returns the match, or `null` when there is none. */
  end(): PmLinkMatch | null;
  /** The match found so far (its `baseHref` may still change until `done`). */
  readonly match: PmLinkMatch | null;
  readonly done: boolean;
}

export interface PmLinkFinderOptions {
  /** Character encoding of byte chunks (a WHATWG Encoding label; default and fallback UTF-8). */
  charset?: string;
}

// Start tags the HTML parser keeps in the head ("in head" insertion mode); any other
// start tag begins the body.
const HEAD_ELEMENTS = new Set(["html", "head", "base", "basefont", "bgsound", "link", "meta", "title", "style", "script", "noscript", "noframes", "template"]);

/**
 * A streaming finder for PROTOCOL.md §1 step 3 (the first `<link>`/`<a>` with
 * `rel` ∋ `pm` and an `href`) and the `<base href>` of step 4.
 */
export function createPmLinkFinder(options: PmLinkFinderOptions = {}): PmLinkFinder {
  const decoder = textDecoderFor(options.charset);
  let match: PmLinkMatch | null = null;
  let baseHref: string | undefined;
  let templateDepth = 0;
  let inBody = false;
  let done = false;

  const settle = () => {
    done = true;
    parser.pause(); // the tokenizer stops within the current chunk
  };

  const parser = new Parser(
    {
      onopentag(name, attribs) {
        if (done) return;
        if (name === "template") {
          templateDepth++;
          return;
        }
        if (templateDepth > 0) return;
        if (!HEAD_ELEMENTS.has(name)) inBody = true;
        if (name === "base" && baseHref === undefined && attribs.href !== undefined) {
          baseHref = attribs.href;
          if (match) {
            match.baseHref = baseHref;
            settle();
          }
          return;
        }
        if (match) {
          if (inBody) settle();
          return;
        }
        if ((name === "link" || name === "a") && attribs.href !== undefined && attribs.rel !== undefined && relHasPm(attribs.rel)) {
          match = { element: name, href: attribs.href, baseHref };
          if (inBody || baseHref !== undefined) settle();
        }
      },
      onclosetag(name) {
        if (done) return;
        if (name === "template") {
          if (templateDepth > 0) templateDepth--;
          return;
        }
        if (templateDepth > 0) return;
        if (name === "head") {
          inBody = true;
          if (match) settle();
        }
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );

  return {
    write(chunk) {
      if (done) return true;
      parser.write(typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true }));
      return done;
    },
    end() {
      if (!done) {
        const rest = decoder.decode();
        if (rest) parser.write(rest);
        if (!done) parser.end();
        done = true;
      }
      return match;
    },
    get match() {
      return match;
    },
    get done() {
      return done;
    },
  };
}

/** PROTOCOL.md §1 steps 3–4 on a whole document held in memory (tests, the benchmark). */
export function findPmLinkInHtml(html: string): PmLinkMatch | null {
  const finder = createPmLinkFinder();
  finder.write(html);
  return finder.end();
}

function textDecoderFor(charset: string | undefined): TextDecoder {
  try {
    return new TextDecoder(charset ?? "utf-8");
  } catch {
    return new TextDecoder("utf-8");
  }
}
