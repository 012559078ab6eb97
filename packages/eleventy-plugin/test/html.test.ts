/**
 * Where the link goes, and when a page is left alone: one row per case (STYLE.md
 * practice 8). Fragments (a feed entry's content) are left byte for byte; which texts are
 * whole documents is a table of its own. Every "inserted" row is also checked against a real HTML parser (jsdom,
 * the core's dependency): the link must be in `document.head`, be the page's first rel=pm
 * element (PROTOCOL.md §1 step 3), and leave the document mode (doctype) as it was.
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { relHasPm } from "@indiepm/protocol";
import { describe, expect, it } from "vitest";
import {
  findPmLinks,
  headInsertionIndex,
  injectPmLink,
  isWholeDocument,
  simpleHeadInsertionIndex,
  simpleHeadPmLink,
  tokenizerFindPmLinks,
  tokenizerHeadInsertionIndex,
  tokenizerIsWholeDocument,
  type InjectionOutcome,
} from "../src/html.js";

const E = "https://pm.alice.example.uk/";
const LINK = `<link rel="pm" href="${E}">`;

// jsdom is a dependency of @indiepm/core, not of this package: load it from there.
const coreManifest = fileURLToPath(new URL("../../core/package.json", import.meta.url));
// Its types are not this package's either: only what parse() uses.
const { JSDOM } = createRequire(coreManifest)("jsdom") as {
  JSDOM: new (html: Buffer, options: { contentType: string }) => { window: { document: Document } };
};

interface Row {
  name: string;
  input: string;
  /** The output, with `LINK` standing for the inserted element. */
  expected: string;
  outcome?: InjectionOutcome;
}

const inserted: Row[] = [
  {
    name: "after <head>",
    input: "<!doctype html><html><head><title>t</title></head><body>x</body></html>",
    expected: "<!doctype html><html><head>LINK<title>t</title></head><body>x</body></html>",
  },
  {
    name: "<HEAD> in upper case, with attributes",
    input: '<!DOCTYPE html>\n<HTML LANG="en">\n<HEAD PROFILE="x">\n<TITLE>t</TITLE>',
    expected: '<!DOCTYPE html>\n<HTML LANG="en">\n<HEAD PROFILE="x">LINK\n<TITLE>t</TITLE>',
  },
  {
    name: "after a leading <meta charset>",
    input: '<!doctype html><head>\n  <meta charset="utf-8">\n  <title>t</title>',
    expected: '<!doctype html><head>\n  <meta charset="utf-8">LINK\n  <title>t</title>',
  },
  {
    name: "<META CHARSET=utf-8> after a comment",
    input: "<!doctype html><head><!-- c --><META CHARSET=utf-8><title>t</title>",
    expected: "<!doctype html><head><!-- c --><META CHARSET=utf-8>LINK<title>t</title>",
  },
  {
    name: "a first <meta> without charset stays after the link",
    input: '<!doctype html><head><meta name="x" content="y">',
    expected: '<!doctype html><head>LINK<meta name="x" content="y">',
  },
  { name: "<head/> written self-closing", input: "<!doctype html><html><head/><body>x", expected: "<!doctype html><html><head/>LINK<body>x" },
  {
    name: "<head> in an attribute of <html> is not the head",
    input: '<!doctype html><html data-x="<head>"><head><title>t</title>',
    expected: '<!doctype html><html data-x="<head>"><head>LINK<title>t</title>',
  },
  {
    name: "<head> in a comment before the real one",
    input: "<!doctype html><!-- <head> --><html><head><title>t</title>",
    expected: "<!doctype html><!-- <head> --><html><head>LINK<title>t</title>",
  },
  { name: "no <head>: before the first head element", input: "<!doctype html><title>t</title><p>x", expected: "<!doctype html>LINK<title>t</title><p>x" },
  {
    name: "no <head>: after <html> and whitespace, before <body>",
    input: '<!DOCTYPE html>\n<html lang="en">\n<body><p>x</p></body></html>',
    expected: '<!DOCTYPE html>\n<html lang="en">\nLINK<body><p>x</p></body></html>',
  },
  {
    name: "no <head>: a leading <meta charset> is kept first",
    input: "<!doctype html><meta charset=utf-8><title>t</title>",
    expected: "<!doctype html><meta charset=utf-8>LINK<title>t</title>",
  },
  {
    name: "no <head>: a <script> opens the head; '<head>' in it is text",
    input: '<!doctype html><script>document.write("<head>")</script><head><title>t</title>',
    expected: '<!doctype html>LINK<script>document.write("<head>")</script><head><title>t</title>',
  },
  { name: "no <head>: a <style> opens the head", input: "<!doctype html><style>head{}</style><p>x", expected: "<!doctype html>LINK<style>head{}</style><p>x" },
  {
    name: "no <head>: a <template> opens the head; its contents do not count",
    input: "<!doctype html><template><head></head><link rel=pm href=/t></template><p>x",
    expected: "<!doctype html>LINK<template><head></head><link rel=pm href=/t></template><p>x",
  },
  {
    name: "no <head>: text opens the head, after the doctype",
    input: "  \n<!-- a --><!doctype html>\nHello",
    expected: "  \n<!-- a --><!doctype html>\nLINKHello",
  },
  { name: "no <head>: </head> opens it", input: "<!doctype html></head><p>x", expected: "<!doctype html>LINK</head><p>x" },
  { name: "no <head>: other end tags before it are ignored", input: "<!doctype html></p></div><p>x", expected: "<!doctype html></p></div>LINK<p>x" },
  { name: "no doctype: <html> declares a document", input: "<html><p>x</p></html>", expected: "<html>LINK<p>x</p></html>" },
  { name: "no doctype: <head> declares a document", input: "<head><title>t</title></head><p>x", expected: "<head>LINK<title>t</title></head><p>x" },
  { name: "no doctype: <body> declares a document", input: "\n<body><p>x</p></body>", expected: "\nLINK<body><p>x</p></body>" },
  {
    name: "no doctype: a comment, then <html>",
    input: "<!-- built 2024 -->\n<HTML lang=en><HEAD><TITLE>t</TITLE>",
    expected: "<!-- built 2024 -->\n<HTML lang=en><HEAD>LINK<TITLE>t</TITLE>",
  },
  {
    name: "no doctype: head elements, then <html>",
    input: "<meta charset=utf-8><title>t</title><html><p>x",
    expected: "<meta charset=utf-8>LINK<title>t</title><html><p>x",
  },
  { name: "a doctype and nothing else", input: "<!doctype html>\n", expected: "<!doctype html>\nLINK" },
  { name: "after a byte order mark", input: "\uFEFF<!doctype html>Hello", expected: "\uFEFF<!doctype html>LINKHello" },
  { name: "a byte order mark, then <html>", input: "\uFEFF<html>Hello", expected: "\uFEFF<html>LINKHello" },
  {
    name: "an XML declaration is a comment to HTML",
    input: '<?xml version="1.0"?><!doctype html><html><head><title>t</title>',
    expected: '<?xml version="1.0"?><!doctype html><html><head>LINK<title>t</title>',
  },
  {
    name: "rel=pm in a comment does not count",
    input: "<!doctype html><head><!-- <link rel=pm href=https://o/> --></head>",
    expected: "<!doctype html><head>LINK<!-- <link rel=pm href=https://o/> --></head>",
  },
  {
    name: "rel=pm in <template> contents does not count",
    input: "<!doctype html><head><template><link rel=pm href=https://o/></template></head>",
    expected: "<!doctype html><head>LINK<template><link rel=pm href=https://o/></template></head>",
  },
  {
    name: "rel=pm in a script does not count",
    input: '<!doctype html><head><script>x = \'<a rel="pm" href="https://o/">\'</script></head>',
    expected: '<!doctype html><head>LINK<script>x = \'<a rel="pm" href="https://o/">\'</script></head>',
  },
  {
    name: "rel=pm in an attribute value does not count",
    input: "<!doctype html><head><meta content='<link rel=pm href=https://o/>'></head>",
    expected: "<!doctype html><head>LINK<meta content='<link rel=pm href=https://o/>'></head>",
  },
  {
    name: "rel=not-pm is not pm",
    input: '<!doctype html><head><link rel="not-pm" href="https://o/"></head>',
    expected: '<!doctype html><head>LINK<link rel="not-pm" href="https://o/"></head>',
  },
  {
    name: "rel=pm without href is not an endpoint",
    input: '<!doctype html><head></head><a rel="pm">x</a>',
    expected: '<!doctype html><head>LINK</head><a rel="pm">x</a>',
  },
];

const leftAlone: Row[] = [
  {
    name: "a <link rel=pm> naming the endpoint",
    input: `<!doctype html><head><link rel="pm" href="${E}"></head>`,
    expected: `<!doctype html><head><link rel="pm" href="${E}"></head>`,
    outcome: "present",
  },
  {
    name: "REL=PM in upper case, among other tokens",
    input: `<!doctype html><head><LINK REL="me PM" HREF="${E}"></head>`,
    expected: `<!doctype html><head><LINK REL="me PM" HREF="${E}"></head>`,
    outcome: "present",
  },
  {
    name: "an <a rel=pm> in the body naming another endpoint",
    input: '<!doctype html><head></head><body><a rel="pm" href="https://other.example/">write</a>',
    expected: '<!doctype html><head></head><body><a rel="pm" href="https://other.example/">write</a>',
    outcome: "other",
  },
  {
    name: "rel written with character references",
    input: '<!doctype html><head><link rel="&#112;m" href="https://other.example/">',
    expected: '<!doctype html><head><link rel="&#112;m" href="https://other.example/">',
    outcome: "other",
  },
  {
    name: "the endpoint in another (equivalent) spelling",
    input: '<!doctype html><head><link rel=pm href="HTTPS://PM.alice.example.uk:443">',
    expected: '<!doctype html><head><link rel=pm href="HTTPS://PM.alice.example.uk:443">',
    outcome: "present",
  },
];

const replaced: Row[] = [
  { name: "a double-quoted href", input: '<head><link rel="pm" href="https://other.example/"></head>', expected: `<head><link rel="pm" href="${E}"></head>` },
  {
    name: "single-quoted, unquoted and empty hrefs, all of them",
    input: "<head><link rel=pm href='https://o/'><a rel=pm href=https://o/>a</a><a rel=pm href>b</a>",
    expected: `<head><link rel=pm href="${E}"><a rel=pm href="${E}">a</a><a rel=pm href="${E}">b</a>`,
  },
  {
    name: "an href with a character reference",
    input: '<head><link rel="pm" href="https://o/?a=1&amp;b=2" title="t">',
    expected: `<head><link rel="pm" href="${E}" title="t">`,
  },
];

/**
 * Whole documents and fragments (see `isWholeDocument`): a doctype or an `<html>`, `<head>`
 * or `<body>` start tag before the first body content makes a document; whitespace,
 * comments, end tags and the head's own elements may come before it.
 */
const fragments: { name: string; input: string }[] = [
  { name: "a paragraph (a feed entry's content)", input: '<p>Leverage agile frameworks.</p>\n<h2 id="section">Section</h2>\n' },
  { name: "a heading first", input: "<h1>Title</h1><p>x</p>" },
  { name: "whitespace, then a paragraph", input: "\n\t  <p>x</p>" },
  { name: "a comment, then a paragraph", input: "<!-- <!doctype html><html> --><p>x</p>" },
  { name: "a byte order mark, then a paragraph", input: "\uFEFF<p>x</p>" },
  { name: "plain text", input: "Just text, no tags." },
  { name: "a character reference", input: "&nbsp;<p>x</p>" },
  {
    name: "an image first (eleventy-img's <picture>)",
    input: '<picture><source type="image/avif" srcset="/img/a.avif"><img src="/img/a.png" alt="a"></picture>',
  },
  { name: "a <link>-only fragment", input: '<link rel="stylesheet" href="/style.css">' },
  { name: "a <link>, then a paragraph", input: '<link rel="stylesheet" href="/style.css">\n<p>x</p>' },
  { name: "a rel=pm link of its own, even with replace", input: '<link rel="pm" href="https://other.example/"><p>x</p>' },
  { name: "a <style>, then a heading (the base blog's post layout)", input: "<style>pre { tab-size: 2 }</style>\n<h1>Post</h1>" },
  { name: "<html> inside a <script> is text", input: '<script>document.write("<html>")</script><p>x</p>' },
  { name: "<html> inside a <template> does not count", input: "<template><html><head></head></template><p>x</p>" },
  { name: "<head> inside <noscript> does not count", input: "<noscript><head></noscript><p>x</p>" },
  { name: "a doctype inside a <template> does not count", input: "<template><!doctype html></template><p>x</p>" },
  { name: "<title> without doctype or <html>", input: "<title>t</title><p>x</p>" },
  { name: "a doctype after body content is not the document's", input: "<p>x</p><!doctype html><html>" },
  { name: "</br> is read as <br>", input: "</br><html>" },
  { name: "an XML declaration, then a paragraph", input: '<?xml version="1.0"?><p>x</p>' },
  { name: "<htmlx> is not <html>", input: "<htmlx><head>" },
  { name: "only comments and head elements", input: "<!-- a --><meta name=x content=y>\n<title>t</title>" },
];

const documents: { name: string; input: string }[] = [
  { name: "<!doctype html>", input: "<!doctype html><p>x" },
  { name: "<!DOCTYPE html> with a legacy string", input: '<!DOCTYPE html SYSTEM "about:legacy-compat"><p>x' },
  { name: "<!doctypehtml> (no space: still a doctype)", input: "<!doctypehtml><p>x" },
  { name: "whitespace and a comment, then a doctype", input: "  \n<!-- c -->\n<!doctype html><p>x" },
  { name: "<html> without doctype", input: '<html lang="en"><p>x' },
  { name: "<HEAD> without doctype", input: "<HEAD><p>x" },
  { name: "<body> without doctype", input: "<body><p>x" },
  { name: "<html/>", input: "<html/><p>x" },
  { name: "a <link>, then <head>", input: '<link rel="stylesheet" href="/a.css">\n<head><p>x' },
  { name: "a <script> with text, then <html>", input: "<script>if (a < b) go()</script><html>" },
  { name: "a <template> with a paragraph, then <html>", input: "<template><p>x</p></template><html>" },
  { name: "a <noscript> with a paragraph, then <html>", input: "<noscript><p>x</p></noscript><html>" },
  { name: "end tags before <html>", input: "</p></div><html>" },
];

describe("whole documents get the link; fragments are left byte for byte", () => {
  it.each(fragments)("fragment: $name", ({ input }) => {
    expect(isWholeDocument(input)).toBe(false);
    expect(tokenizerIsWholeDocument(input)).toBe(false);
    expect(injectPmLink(input, E)).toEqual({ html: input, outcome: "fragment" });
    expect(injectPmLink(input, E, { replace: true })).toEqual({ html: input, outcome: "fragment" });
  });

  it.each(documents)("document: $name", ({ input }) => {
    expect(isWholeDocument(input)).toBe(true);
    expect(tokenizerIsWholeDocument(input)).toBe(true);
    const result = injectPmLink(input, E);
    expect(result.outcome).toBe("inserted");
    const doc = parse(result.html);
    const link = doc.querySelector('link[rel="pm"]');
    expect(link?.getAttribute("href")).toBe(E);
    expect(doc.head.contains(link)).toBe(true);
  });

  // The fast path (a regular expression on the start) must give the tokenizer's answer.
  const starts = ["", "\uFEFF", "\n  ", "<!-- c -->", "<?xml version='1.0'?>", "<meta charset=utf-8>", "<link rel=stylesheet href=a>", "<p>x</p>", "text"];
  const firsts = [
    "<!doctype html>",
    "<!DOCTYPE html>",
    "<html>",
    "<html lang=en>",
    "<HTML/>",
    "<head>",
    "<body>",
    "<htmlx>",
    "<header>",
    "<bodyx>",
    "<p>",
    "",
    "<title>t</title>",
    "<script>x</script>",
    "</br>",
    "<!-- <html> -->",
  ];
  const corpus = starts.flatMap((a) => firsts.flatMap((b) => firsts.map((c) => a + b + c)));
  it(`the fast path agrees with the tokenizer on ${corpus.length} starts`, () => {
    expect(corpus.filter((text) => isWholeDocument(text) !== tokenizerIsWholeDocument(text))).toEqual([]);
  });
});

describe("the fast path for pages that already name the endpoint", () => {
  // Heads of the usual shape, with the link at different places, and shapes it must leave to the tokenizer.
  const heads = ['<!doctype html>\n<html lang="en">\n<head>\n', "<!DOCTYPE html><HTML><HEAD PROFILE=x>", "<head>"];
  const before = [
    "",
    '<meta charset="utf-8">\n',
    '<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>Alice &amp; Bob</title>\n',
    "<style>body { color: red } a > b { }</style>\n<script type=module>if (a < b) go()</script>\n",
    '<link rel="stylesheet" href="/a.css">\n<link rel="alternate" type="application/atom+xml" href="/feed.xml">\n',
    "<!-- a comment --><meta charset=utf-8>",
    "<noscript><link rel=pm href=https://ns.example/></noscript>",
    "<script>x = '</b>'</script>",
    "<template><link rel=pm href=https://t.example/></template>",
    "<title>a <link rel=pm href=https://title.example/></title>",
    '<meta content="<link rel=pm href=https://attr.example/>">',
    // Where the first `rel=…pm` text is not a rel=pm element's: the fast path must not stop there.
    '<meta name="x" content="rel=pm">\n',
    '<link href="/a.css?rel=pm" rel="stylesheet">\n',
    `<script>var s = '<link rel="pm" href="https://script.example/">';</script>\n`,
    '<style>a[rel="pm"] { color: red }</style>\n',
    '<title>rel="pm"</title>\n',
  ];
  const links = [
    `<link rel="pm" href="${E}">`,
    `<LINK REL="me PM" HREF='${E}'>`,
    `<link rel=pm href=${E}>`,
    `<link rel=pm href=${E} />`,
    '<link href="https://pm.example/?a=1&amp;b=2" rel="pm" title="t">',
    '<link rel="&#112;m" href="https://other.example/">',
    '<link rel="not-pm" href="https://other.example/">',
    '<link rel="pm">',
    '<link rel="pm" rel="me" href="https://first-rel-wins.example/">',
    '<link rel=pm href="https://a.example/" href="https://second.example/">',
    // The plugin's own element and near misses of it.
    '<link rel="pm" href="https://pm.example/?a=1&amp;b=2">',
    '<link rel="pm" href="https://pm.example/"/>',
    '<link rel="pm" href="https://pm.example/"x>',
    '<link rel="pm" href="https://pm.example/" >',
    '<link rel="pm" href="">',
  ];
  const afters = ["</head><body></body>", '</head><body><a rel="pm" href="https://body.example/">b</a>', "<link rel=pm href=https://second.example/></head>"];
  const corpus = heads.flatMap((h) => before.flatMap((b) => links.flatMap((l) => afters.map((a) => h + b + l + a))));

  it(`finds what the tokenizer finds, first and all, on ${corpus.length} pages`, () => {
    const disagree = corpus.filter(
      (page) =>
        JSON.stringify(findPmLinks(page)) !== JSON.stringify(tokenizerFindPmLinks(page)) ||
        JSON.stringify(findPmLinks(page, { all: true })) !== JSON.stringify(tokenizerFindPmLinks(page, { all: true })),
    );
    expect(disagree).toEqual([]);
    const fast = corpus.filter((page) => simpleHeadPmLink(page) !== undefined);
    for (const page of fast) expect(simpleHeadPmLink(page)!.link).toEqual(tokenizerFindPmLinks(page)[0]);
    expect(fast.length).toBeGreaterThan(corpus.length / 5); // it does answer for the usual shapes
  });

  it("answers for the pmLink shortcode's link in the base blog's head", () => {
    const page = `<!doctype html>\n<html lang="en">\n\t<head>\n\t\t<meta charset="utf-8">\n\t\t<meta name="viewport" content="width=device-width, initial-scale=1.0">\n\t\t<title>Blog</title>\n\t\t<meta name="description" content="d">\n\t\t<link rel="alternate" href="/feed/feed.xml" type="application/atom+xml" title="Blog">\n\t\t<style>/* css */ a { color: red }</style>\n\t\t<script type="module">class A extends HTMLElement {}</script>\n\t\t${LINK}\n\t</head>\n\t<body><p>x</p></body></html>`;
    expect(simpleHeadPmLink(page)?.link.href).toBe(E);
    expect(injectPmLink(page, E)).toEqual({ html: page, outcome: "present" });
  });
});

/** Parses the page as a browser gets it from a server: UTF-8 bytes (so a BOM is the decoder's, not text). */
function parse(html: string) {
  const dom = new JSDOM(Buffer.from(html, "utf8"), { contentType: "text/html" });
  return dom.window.document;
}

describe("where the link goes (HTML tree construction, before head / in head)", () => {
  it.each(inserted)("$name", ({ input, expected }) => {
    const result = injectPmLink(input, E);
    expect(result.outcome).toBe("inserted");
    expect(result.html).toBe(expected.replace("LINK", LINK));
    expect(headInsertionIndex(input)).toBe(expected.indexOf("LINK"));

    const doc = parse(result.html);
    const firstPm = [...doc.querySelectorAll("link[href][rel], a[href][rel]")].find((e) => relHasPm(e.getAttribute("rel")!));
    expect(firstPm?.getAttribute("href")).toBe(E);
    expect(doc.head.contains(firstPm!)).toBe(true);
    expect(doc.compatMode).toBe(parse(input).compatMode); // the doctype still comes first
  });
});

describe("the fast path for simple pages", () => {
  // Every combination of these pieces: the regular-expression fast path must give the
  // tokenizer's answer whenever it answers at all.
  const starts = ["", "\uFEFF", "\n  ", "\u00a0", "<!doctype html>", "<!DOCTYPE html>\n", "<!-- c -->", "<!doctype html><!-- c -->\n", "x"];
  const htmls = [
    "",
    "<html>",
    '<html lang="en">\n',
    "<HTML lang=en dir='ltr'>",
    '<html data-x="<head>">',
    "<html a='>'>",
    "<html/>",
    "<html lang=en/ dir=ltr>",
    "<htmlx>",
    '<html a="x"b="y">',
  ];
  const heads = ["<head>", "<HEAD>", "<head profile=x>", "<head/>", '<head data-x="a>b">', "<header>", "<body>", "<title>t</title>", "</head>"];
  const afters = [
    "",
    "\n",
    "<title>t</title>",
    '\n  <meta charset="utf-8">',
    "<META CHARSET=utf-8>",
    "<meta name=a charset>",
    '<meta content="charset=x">',
    "<!-- c --><meta charset=x>",
    "<metadata>",
    "</head>",
    "text",
    "<meta charset=utf-8/>",
    "<meta a='x' charset='y'>",
  ];
  const corpus = starts.flatMap((a) => htmls.flatMap((b) => heads.flatMap((c) => afters.map((d) => a + b + c + d))));

  it(`agrees with the tokenizer on ${corpus.length} page starts`, () => {
    const answered = corpus.filter((page) => simpleHeadInsertionIndex(page) !== undefined);
    const disagreements = answered.filter((page) => simpleHeadInsertionIndex(page) !== tokenizerHeadInsertionIndex(page));
    expect(disagreements).toEqual([]);
    expect(answered.length).toBeGreaterThan(corpus.length / 10); // it does answer for the simple shapes
  });

  it.each(inserted)("agrees on: $name", ({ input }) => {
    expect(headInsertionIndex(input)).toBe(tokenizerHeadInsertionIndex(input));
  });
});

describe("a page that already names a rel=pm endpoint (§1 step 3)", () => {
  it.each(leftAlone)("is left alone: $name", ({ input, expected, outcome }) => {
    expect(injectPmLink(input, E)).toEqual({ html: expected, outcome });
  });

  it.each(replaced)("with replace: $name", ({ input, expected }) => {
    const result = injectPmLink(input, E, { replace: true });
    expect(result).toEqual({ html: expected, outcome: "replaced" });
    expect(injectPmLink(result.html, E, { replace: true })).toEqual({ html: expected, outcome: "present" });
  });

  it("is idempotent: a second run changes nothing", () => {
    for (const row of inserted) {
      const once = injectPmLink(row.input, E).html;
      expect(injectPmLink(once, E)).toEqual({ html: once, outcome: "present" });
    }
  });

  it("finds rel=pm elements in document order, decoding attributes, and only the first unless asked", () => {
    const html = '<a rel="x pm" href="/one?a=1&amp;b=2">1</a><link rel=PM href=/two>';
    expect(findPmLinks(html).map((l) => l.href)).toEqual(["/one?a=1&b=2"]);
    expect(findPmLinks(html, { all: true }).map((l) => [l.element, l.href])).toEqual([
      ["a", "/one?a=1&b=2"],
      ["link", "/two"],
    ]);
  });

  it("escapes the endpoint for the attribute", () => {
    const endpoint = "https://pm.example.com/in?site=a&x=%22";
    expect(injectPmLink("<head>", endpoint).html).toBe('<head><link rel="pm" href="https://pm.example.com/in?site=a&amp;x=%22">');
  });
});
