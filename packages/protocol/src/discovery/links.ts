/**
 * Every `<a>`/`<link>` with an `href` in an HTML document, resolved against its base URL
 * as a browser would (the first `<base href>`, else the page's URL). Used where a whole
 * page matters rather than its first rel=pm: §7 vouch ("a page … which links to the
 * sender's site") and IndieAuth discovery (`rel=indieauth-metadata`,
 * `rel=authorization_endpoint`). Comments and `<template>` contents hold no links.
 */
import { Parser } from "htmlparser2";

export interface HtmlLink {
  element: "a" | "link";
  /** `rel` tokens, lower-cased. */
  rel: string[];
  /** The `href` resolved to an absolute URL (WHATWG serialization). */
  href: string;
}

const ASCII_WHITESPACE = /[\t\n\f\r ]+/;

/** The links of `html` (at most `max`, default 10 000), in document order. */
export function linksInHtml(html: string, pageUrl: string, max = 10_000): HtmlLink[] {
  const found: { element: "a" | "link"; rel: string[]; href: string }[] = [];
  let baseHref: string | undefined;
  let templateDepth = 0;
  const parser = new Parser(
    {
      onopentag(name, attribs) {
        if (name === "template") templateDepth++;
        if (templateDepth > 0 || found.length >= max) return;
        if (name === "base" && baseHref === undefined && attribs.href !== undefined) baseHref = attribs.href;
        if ((name === "a" || name === "link") && attribs.href !== undefined) {
          const rel = (attribs.rel ?? "").toLowerCase().split(ASCII_WHITESPACE).filter(Boolean);
          found.push({ element: name, rel, href: attribs.href.trim() });
        }
      },
      onclosetag(name) {
        if (name === "template" && templateDepth > 0) templateDepth--;
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.write(html);
  parser.end();
  const base = baseHref !== undefined && URL.canParse(baseHref, pageUrl) ? new URL(baseHref, pageUrl).href : pageUrl;
  return found.flatMap((link) => (URL.canParse(link.href, base) ? [{ ...link, href: new URL(link.href, base).href }] : []));
}
