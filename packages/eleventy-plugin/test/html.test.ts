/**
 * Where the link goes, and when a page is left alone: one row per case (STYLE.md
 * practice 8). Every "inserted" row is also checked against a real HTML parser (jsdom,
 * the core's dependency): the link must be in `document.head`, be the page's first rel=pm
 * element (PROTOCOL.md §1 step 3), and leave the document mode (doctype) as it was.
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  findPmLinks,
  headInsertionIndex,
  injectPmLink,
  relHasPm,
  simpleHeadInsertionIndex,
  tokenizerHeadInsertionIndex,
  type InjectionOutcome,
} from "../src/html.js";

const E = "https://pm.alice.example.uk/";
const LINK = `<link rel="pm" href="${E}">`;

// jsdom is a dependency of @indiepm/core, not of this package: load it from there.
const coreManifest = fileURLToPath(new URL("../../core/package.json", import.meta.url));
const { JSDOM } = createRequire(coreManifest)("jsdom") as typeof import("jsdom");

interface Row {
  name: string;
  input: string;
  /** The output, with `LINK` standing for the inserted element. */
  expected: string;
  outcome?: InjectionOutcome;
}

const inserted: Row[] = [
  { name: "after <head>", input: "<!doctype html><html><head><title>t</title></head><body>x</body></html>", expected: "<!doctype html><html><head>LINK<title>t</title></head><body>x</body></html>" },
  { name: "<HEAD> in upper case, with attributes", input: '<!DOCTYPE html>\n<HTML LANG="en">\n<HEAD PROFILE="x">\n<TITLE>t</TITLE>', expected: '<!DOCTYPE html>\n<HTML LANG="en">\n<HEAD PROFILE="x">LINK\n<TITLE>t</TITLE>' },
  { name: "after a leading <meta charset>", input: '<!doctype html><head>\n  <meta charset="utf-8">\n  <title>t</title>', expected: '<!doctype html><head>\n  <meta charset="utf-8">LINK\n  <title>t</title>' },
  { name: "<META CHARSET=utf-8> after a comment", input: "<!doctype html><head><!-- c --><META CHARSET=utf-8><title>t</title>", expected: "<!doctype html><head><!-- c --><META CHARSET=utf-8>LINK<title>t</title>" },
  { name: "a first <meta> without charset stays after the link", input: '<!doctype html><head><meta name="x" content="y">', expected: '<!doctype html><head>LINK<meta name="x" content="y">' },
  { name: "<head/> written self-closing", input: "<!doctype html><html><head/><body>x", expected: "<!doctype html><html><head/>LINK<body>x" },
  { name: "<head> in an attribute of <html> is not the head", input: '<!doctype html><html data-x="<head>"><head><title>t</title>', expected: '<!doctype html><html data-x="<head>"><head>LINK<title>t</title>' },
  { name: "<head> in a comment before the real one", input: "<!doctype html><!-- <head> --><html><head><title>t</title>", expected: "<!doctype html><!-- <head> --><html><head>LINK<title>t</title>" },
  { name: "no <head>: before the first head element", input: "<!doctype html><title>t</title><p>x", expected: "<!doctype html>LINK<title>t</title><p>x" },
  { name: "no <head>: after <html> and whitespace, before <body>", input: '<!DOCTYPE html>\n<html lang="en">\n<body><p>x</p></body></html>', expected: '<!DOCTYPE html>\n<html lang="en">\nLINK<body><p>x</p></body></html>' },
  { name: "no <head>: a leading <meta charset> is kept first", input: "<!doctype html><meta charset=utf-8><title>t</title>", expected: "<!doctype html><meta charset=utf-8>LINK<title>t</title>" },
  { name: "no <head>: a <script> opens the head; '<head>' in it is text", input: '<!doctype html><script>document.write("<head>")</script><head><title>t</title>', expected: '<!doctype html>LINK<script>document.write("<head>")</script><head><title>t</title>' },
  { name: "no <head>: a <style> opens the head", input: "<!doctype html><style>head{}</style><p>x", expected: "<!doctype html>LINK<style>head{}</style><p>x" },
  { name: "no <head>: a <template> opens the head; its contents do not count", input: "<!doctype html><template><head></head><link rel=pm href=/t></template><p>x", expected: "<!doctype html>LINK<template><head></head><link rel=pm href=/t></template><p>x" },
  { name: "no <head>: text opens the head, after the doctype", input: "  \n<!-- a --><!doctype html>\nHello", expected: "  \n<!-- a --><!doctype html>\nLINKHello" },
  { name: "no <head>: </head> opens it", input: "<!doctype html></head><p>x", expected: "<!doctype html>LINK</head><p>x" },
  { name: "no <head>: other end tags before it are ignored", input: "<!doctype html></p></div><p>x", expected: "<!doctype html></p></div>LINK<p>x" },
  { name: "a fragment without doctype", input: "<p>just a fragment</p>", expected: "LINK<p>just a fragment</p>" },
  { name: "a doctype and nothing else", input: "<!doctype html>\n", expected: "<!doctype html>\nLINK" },
  { name: "after a byte order mark", input: "\uFEFFHello", expected: "\uFEFFLINKHello" },
  { name: "an XML declaration is a comment to HTML", input: '<?xml version="1.0"?><!doctype html><html><head><title>t</title>', expected: '<?xml version="1.0"?><!doctype html><html><head>LINK<title>t</title>' },
  { name: "rel=pm in a comment does not count", input: "<!doctype html><head><!-- <link rel=pm href=https://o/> --></head>", expected: "<!doctype html><head>LINK<!-- <link rel=pm href=https://o/> --></head>" },
  { name: "rel=pm in <template> contents does not count", input: "<!doctype html><head><template><link rel=pm href=https://o/></template></head>", expected: "<!doctype html><head>LINK<template><link rel=pm href=https://o/></template></head>" },
  { name: "rel=pm in a script does not count", input: '<!doctype html><head><script>x = \'<a rel="pm" href="https://o/">\'</script></head>', expected: '<!doctype html><head>LINK<script>x = \'<a rel="pm" href="https://o/">\'</script></head>' },
  { name: "rel=pm in an attribute value does not count", input: "<!doctype html><head><meta content='<link rel=pm href=https://o/>'></head>", expected: "<!doctype html><head>LINK<meta content='<link rel=pm href=https://o/>'></head>" },
  { name: "rel=not-pm is not pm", input: '<!doctype html><head><link rel="not-pm" href="https://o/"></head>', expected: '<!doctype html><head>LINK<link rel="not-pm" href="https://o/"></head>' },
  { name: "rel=pm without href is not an endpoint", input: '<!doctype html><head></head><a rel="pm">x</a>', expected: '<!doctype html><head>LINK</head><a rel="pm">x</a>' },
];

const leftAlone: Row[] = [
  { name: "a <link rel=pm> naming the endpoint", input: `<!doctype html><head><link rel="pm" href="${E}"></head>`, expected: `<!doctype html><head><link rel="pm" href="${E}"></head>`, outcome: "present" },
  { name: "REL=PM in upper case, among other tokens", input: `<!doctype html><head><LINK REL="me PM" HREF="${E}"></head>`, expected: `<!doctype html><head><LINK REL="me PM" HREF="${E}"></head>`, outcome: "present" },
  { name: "an <a rel=pm> in the body naming another endpoint", input: '<!doctype html><head></head><body><a rel="pm" href="https://other.example/">write</a>', expected: '<!doctype html><head></head><body><a rel="pm" href="https://other.example/">write</a>', outcome: "other" },
  { name: "rel written with character references", input: '<!doctype html><head><link rel="&#112;m" href="https://other.example/">', expected: '<!doctype html><head><link rel="&#112;m" href="https://other.example/">', outcome: "other" },
  { name: "the endpoint in another (equivalent) spelling", input: '<!doctype html><head><link rel=pm href="HTTPS://PM.alice.example.uk:443">', expected: '<!doctype html><head><link rel=pm href="HTTPS://PM.alice.example.uk:443">', outcome: "present" },
];

const replaced: Row[] = [
  { name: "a double-quoted href", input: '<head><link rel="pm" href="https://other.example/"></head>', expected: `<head><link rel="pm" href="${E}"></head>` },
  { name: "single-quoted, unquoted and empty hrefs, all of them", input: "<head><link rel=pm href='https://o/'><a rel=pm href=https://o/>a</a><a rel=pm href>b</a>", expected: `<head><link rel=pm href="${E}"><a rel=pm href="${E}">a</a><a rel=pm href="${E}">b</a>` },
  { name: "an href with a character reference", input: '<head><link rel="pm" href="https://o/?a=1&amp;b=2" title="t">', expected: `<head><link rel="pm" href="${E}" title="t">` },
];

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
  const htmls = ["", "<html>", '<html lang="en">\n', "<HTML lang=en dir='ltr'>", '<html data-x="<head>">', "<html a='>'>", "<html/>", "<html lang=en/ dir=ltr>", "<htmlx>", '<html a="x"b="y">'];
  const heads = ["<head>", "<HEAD>", "<head profile=x>", "<head/>", '<head data-x="a>b">', "<header>", "<body>", "<title>t</title>", "</head>"];
  const afters = ["", "\n", "<title>t</title>", '\n  <meta charset="utf-8">', "<META CHARSET=utf-8>", "<meta name=a charset>", '<meta content="charset=x">', "<!-- c --><meta charset=x>", "<metadata>", "</head>", "text", "<meta charset=utf-8/>", "<meta a='x' charset='y'>"];
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
    expect(findPmLinks(html, { all: true }).map((l) => [l.element, l.href])).toEqual([["a", "/one?a=1&b=2"], ["link", "/two"]]);
  });

  it("escapes the endpoint for the attribute", () => {
    const endpoint = "https://pm.example.com/in?site=a&x=%22";
    expect(injectPmLink("<head>", endpoint).html).toBe('<head><link rel="pm" href="https://pm.example.com/in?site=a&amp;x=%22">');
  });
});
