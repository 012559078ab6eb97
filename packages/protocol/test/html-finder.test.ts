/**
 * PROTOCOL.md §1 steps 3–4, the streaming finder on its own: what it matches, when it
 * says it is done (the `stopWhen` signal), and that chunk boundaries change nothing.
 * The full rule table, over HTTP, is in @indiepm/core's test/discovery.test.ts.
 */
import { JSDOM, VirtualConsole } from "jsdom";
import { describe, expect, it } from "vitest";
import { createPmLinkFinder, findPmLinkInHtml } from "../src/discovery/html.js";
import { relHasPm } from "../src/rel-pm.js";

describe("relHasPm", () => {
  it.each([
    ["pm", true],
    ["PM", true],
    ["Pm", true],
    ["me pm", true],
    ["\tme\npm\f", true],
    ["not-pm", false],
    ["pm-x", false],
    ["p m", false],
    ["", false],
    ["ｐｍ", false], // full-width letters are not ASCII "pm"
  ])("%j → %s", (rel, expected) => {
    expect(relHasPm(rel)).toBe(expected);
  });
});

describe("§1 step 3 findPmLinkInHtml", () => {
  // [name, html, expected { element, href, baseHref } | null]
  const rows: Array<[string, string, { element: "link" | "a"; href: string; baseHref?: string } | null]> = [
    ["link in head", '<head><link rel="pm" href="/pm"></head>', { element: "link", href: "/pm" }],
    ["a in body", '<body><a rel=pm href="/pm">pm</a>', { element: "a", href: "/pm" }],
    ["upper-case tag and attributes", '<LINK REL="PM" HREF="/pm">', { element: "link", href: "/pm" }],
    ["a before link wins", "<a rel=pm href=/a></a><link rel=pm href=/l>", { element: "a", href: "/a" }],
    ["without href skipped", "<link rel=pm><a rel=pm>x</a><a rel=pm href=/3>", { element: "a", href: "/3" }],
    ["without rel skipped", "<a href=/x>x</a><a rel=pm href=/y>", { element: "a", href: "/y" }],
    ["other elements with rel=pm ignored", "<area rel=pm href=/area><form rel=pm action=/f></form><a rel=pm href=/a>", { element: "a", href: "/a" }],
    ["in a comment", "<!-- <link rel=pm href=/c> --><link rel=pm href=/real>", { element: "link", href: "/real" }],
    ["in a script", '<script>document.write("<link rel=pm href=/s>")</script><a rel=pm href=/real>', { element: "a", href: "/real" }],
    [
      "in a style, title, textarea",
      "<style><a rel=pm href=/1></style><title><a rel=pm href=/2></title><textarea><a rel=pm href=/3></textarea><a rel=pm href=/4>",
      { element: "a", href: "/4" },
    ],
    [
      "in a template",
      "<template><link rel=pm href=/t><template><a rel=pm href=/tt></template></template><link rel=pm href=/real>",
      { element: "link", href: "/real" },
    ],
    ["in noscript (scripting off)", "<noscript><link rel=pm href=/n></noscript>", { element: "link", href: "/n" }],
    ["character references", '<link rel="&#112;m" href="/pm?a=1&amp;b=2&#x26;c=&quot;3&quot;">', { element: "link", href: '/pm?a=1&b=2&c="3"' }],
    ["first of repeated attributes", "<a rel=me rel=pm href=/x></a><a href=/1 href=/2 rel=pm>", { element: "a", href: "/1" }],
    ["empty href", '<link rel=pm href="">', { element: "link", href: "" }],
    ["base before the link", '<base href="https://b.example/x/"><link rel=pm href=pm>', { element: "link", href: "pm", baseHref: "https://b.example/x/" }],
    [
      "base after the link, still in the head",
      '<head><link rel=pm href=pm><meta charset=utf-8><base href="/b/"></head>',
      { element: "link", href: "pm", baseHref: "/b/" },
    ],
    ["only the first base counts", '<base href="/one/"><base href="/two/"><link rel=pm href=pm>', { element: "link", href: "pm", baseHref: "/one/" }],
    ["base without href does not count", '<base target=_top><base href="/two/"><link rel=pm href=pm>', { element: "link", href: "pm", baseHref: "/two/" }],
    ["base in a template does not count", '<template><base href="/t/"></template><link rel=pm href=pm>', { element: "link", href: "pm" }],
    ["base after </head> is not waited for", '<head><link rel=pm href=pm></head><body><base href="/late/">', { element: "link", href: "pm" }],
    ["base after body content is not waited for", '<link rel=pm href=pm><p>text</p><base href="/late/">', { element: "link", href: "pm" }],
    ["base in the body before an a counts", '<body><base href="/b/"><a rel=pm href=pm>', { element: "a", href: "pm", baseHref: "/b/" }],
    [
      "raw text of xmp, iframe, noembed, noframes",
      "<xmp><a rel=pm href=/1></xmp><iframe><a rel=pm href=/2></iframe><noembed><a rel=pm href=/3></noembed><noframes><a rel=pm href=/4></noframes><a rel=pm href=/5>",
      { element: "a", href: "/5" },
    ],
    ["abruptly closed comments", "<!--><a rel=pm href=/1>", { element: "a", href: "/1" }],
    ["comment closed by --!>", "<!-- x --!><a rel=pm href=/1>", { element: "a", href: "/1" }],
    ["CDATA outside foreign content is a bogus comment", "<![CDATA[<a rel=pm href=/c>]]><a rel=pm href=/real>", { element: "a", href: "/real" }],
    ["processing instruction is a bogus comment", "<?x <a rel=pm href=/p>?><a rel=pm href=/real>", { element: "a", href: "/real" }],
    ["unquoted attributes and odd spacing", "<a\nhref = /x\trel = pm >", { element: "a", href: "/x" }],
    ["none", "<html><head><title>x</title></head><body><a href=/x rel=me>me</a></body></html>", null],
    ["not-pm", '<link rel="not-pm" href="/x">', null],
    ["empty document", "", null],
  ];

  it.each(rows)("%s", (_name, html, expected) => {
    const found = findPmLinkInHtml(html);
    expect(found).toEqual(expected === null ? null : { baseHref: undefined, ...expected });
  });

  // The finder's answer is the one a DOM gives (jsdom, scripting off), except where the
  // module comment says it stops early: a <base> after the head that follows the match.
  const STOPS_EARLY = new Set(["base after </head> is not waited for", "base after body content is not waited for"]);
  it.each(rows.filter(([name]) => !STOPS_EARLY.has(name)))("%s — agrees with a DOM", (_name, html) => {
    const { document } = new JSDOM(html, { virtualConsole: new VirtualConsole() }).window;
    const element = [...document.querySelectorAll("link, a")].find((e) => e.hasAttribute("href") && relHasPm(e.getAttribute("rel") ?? ""));
    const base = document.querySelector("base[href]");
    const dom = element ? { element: element.localName, href: element.getAttribute("href"), baseHref: base?.getAttribute("href") ?? undefined } : null;
    expect(findPmLinkInHtml(html)).toEqual(dom);
  });

  it.each(rows.filter(([name]) => STOPS_EARLY.has(name)))("%s — where a DOM would use the late base", (_name, html) => {
    expect(new JSDOM(html, { virtualConsole: new VirtualConsole() }).window.document.querySelector("base[href]")).not.toBeNull();
    expect(findPmLinkInHtml(html)?.baseHref).toBeUndefined();
  });

  it.each(rows)("%s — fed one character at a time", (_name, html, expected) => {
    const finder = createPmLinkFinder();
    for (const c of html) if (finder.write(c)) break;
    expect(finder.end()).toEqual(expected === null ? null : { baseHref: undefined, ...expected });
  });
});

describe("streaming (§1: a parser MAY stop at the first match)", () => {
  it("is done at an <a> match at once", () => {
    const finder = createPmLinkFinder();
    expect(finder.write("<body><p>x</p><a rel=pm href=/pm>")).toBe(true);
    expect(finder.done).toBe(true);
  });

  it("after a <link> match in the head, waits for the end of the head or a <base>", () => {
    const finder = createPmLinkFinder();
    expect(finder.write("<html><head><link rel=pm href=/pm>")).toBe(false);
    expect(finder.match).toMatchObject({ href: "/pm" });
    expect(finder.write("<meta name=x><title>t</title>")).toBe(false);
    expect(finder.write("</head>")).toBe(true);

    const withBase = createPmLinkFinder();
    withBase.write("<link rel=pm href=pm>");
    expect(withBase.write('<base href="/b/">')).toBe(true);
    expect(withBase.end()).toMatchObject({ baseHref: "/b/" });
  });

  it("is done at a <link> match when a base was already seen", () => {
    const finder = createPmLinkFinder();
    expect(finder.write('<base href="/b/"><link rel=pm href=pm>')).toBe(true);
  });

  it("ignores whatever follows in the same chunk once done", () => {
    const finder = createPmLinkFinder();
    expect(finder.write('<a rel=pm href=/first></a><base href="/late/"><a rel=pm href=/second>')).toBe(true);
    expect(finder.write("<a rel=pm href=/third>")).toBe(true);
    expect(finder.end()).toEqual({ element: "a", href: "/first", baseHref: undefined });
  });

  it("decodes bytes split inside a UTF-8 character", () => {
    const bytes = new TextEncoder().encode('<a rel=pm href="/é">');
    const cut = bytes.indexOf(0xc3) + 1;
    const finder = createPmLinkFinder();
    finder.write(bytes.subarray(0, cut));
    finder.write(bytes.subarray(cut));
    expect(finder.end()).toMatchObject({ href: "/é" });
  });

  it("decodes the charset it is told", () => {
    const finder = createPmLinkFinder({ charset: "iso-8859-1" });
    finder.write(new Uint8Array([...new TextEncoder().encode('<a rel=pm href="/'), 0xe9, ...new TextEncoder().encode('">')]));
    expect(finder.end()).toMatchObject({ href: "/é" });
  });

  it("falls back to UTF-8 for an unknown charset", () => {
    const finder = createPmLinkFinder({ charset: "no-such-charset" });
    finder.write(new TextEncoder().encode('<a rel=pm href="/é">'));
    expect(finder.end()).toMatchObject({ href: "/é" });
  });

  it("an unfinished tag at the end of the input is not an element", () => {
    expect(findPmLinkInHtml('<p>x</p><a rel=pm href="/cut')).toBeNull();
    expect(findPmLinkInHtml("<p>x</p><a rel=pm href=/cut")).toBeNull();
  });
});
