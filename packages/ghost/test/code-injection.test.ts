/**
 * The site-wide code injection merge (code-injection.ts), as a fixture table: one row
 * per case, each checked for its result and for idempotence (a second run changes
 * nothing). PROTOCOL.md §1 step 3 decides what counts as a pm link.
 */
import { endpointFromResponse } from "@indiepm/core";
import { describe, expect, it } from "vitest";
import { findPmLinks, GhostError, pmLinkTag, removePmLink, setPmLink, type CodeInjectionAction } from "../src/index.js";

const E = "https://pm.example.net/";
const OLD = "https://old-pm.example.net/";
const TAG = `<link rel="pm" href="${E}">`;
const GA = `<script async src="https://www.googletagmanager.com/gtag/js?id=G-1"></script>\n<script>\n  window.dataLayer = window.dataLayer || [];\n  gtag('config', 'G-1');\n</script>\n`;

interface Row {
  name: string;
  before: string;
  /** The endpoint to set, or `null` to remove. */
  endpoint: string | null;
  after: string;
  action: CodeInjectionAction;
}

const ROWS: Row[] = [
  // adding: everything already there is kept, byte for byte
  { name: "empty", before: "", endpoint: E, after: TAG, action: "added" },
  { name: "owner content ending in a newline", before: GA, endpoint: E, after: `${GA}${TAG}\n`, action: "added" },
  {
    name: "owner content without a final newline",
    before: "<style>body{color:red}</style>",
    endpoint: E,
    after: `<style>body{color:red}</style>\n${TAG}`,
    action: "added",
  },
  {
    name: "CRLF line breaks",
    before: "<meta name=a>\r\n<meta name=b>\r\n",
    endpoint: E,
    after: `<meta name=a>\r\n<meta name=b>\r\n${TAG}\r\n`,
    action: "added",
  },
  { name: "only blank lines", before: "\n\n", endpoint: E, after: `\n\n${TAG}\n`, action: "added" },
  {
    name: "a pm link inside a comment does not count",
    before: `<!-- <link rel="pm" href="${OLD}"> -->\n`,
    endpoint: E,
    after: `<!-- <link rel="pm" href="${OLD}"> -->\n${TAG}\n`,
    action: "added",
  },
  {
    name: "a pm link inside a script string does not count",
    before: `<script>var t = '<link rel="pm" href="${OLD}">';</script>`,
    endpoint: E,
    after: `<script>var t = '<link rel="pm" href="${OLD}">';</script>\n${TAG}`,
    action: "added",
  },
  {
    name: "rel=not-pm is not pm",
    before: `<link rel="not-pm" href="${OLD}">\n`,
    endpoint: E,
    after: `<link rel="not-pm" href="${OLD}">\n${TAG}\n`,
    action: "added",
  },
  {
    name: "rel=webmention is left alone",
    before: `<link rel="webmention" href="https://webmention.io/x/webmention">\n`,
    endpoint: E,
    after: `<link rel="webmention" href="https://webmention.io/x/webmention">\n${TAG}\n`,
    action: "added",
  },
  {
    name: "an endpoint with & and a query is escaped",
    before: "",
    endpoint: "https://pm.example.net/?site=a&b=1",
    after: `<link rel="pm" href="https://pm.example.net/?site=a&amp;b=1">`,
    action: "added",
  },

  // idempotence: already there, in whatever form the owner wrote it
  { name: "our own link", before: `${GA}${TAG}\n`, endpoint: E, after: `${GA}${TAG}\n`, action: "unchanged" },
  {
    name: "the owner's own spelling of the same link",
    before: `<LINK href='${E}' REL="me pm"/>`,
    endpoint: E,
    after: `<LINK href='${E}' REL="me pm"/>`,
    action: "unchanged",
  },
  {
    name: "the same URL in another spelling",
    before: `<link rel=pm href="HTTPS://PM.example.net:443">`,
    endpoint: E,
    after: `<link rel=pm href="HTTPS://PM.example.net:443">`,
    action: "unchanged",
  },

  // replacing: a changed endpoint takes the old link's place
  {
    name: "a changed endpoint replaces the old link in place",
    before: `<meta name=a>\n<link rel="pm" href="${OLD}">\n<meta name=b>\n`,
    endpoint: E,
    after: `<meta name=a>\n${TAG}\n<meta name=b>\n`,
    action: "replaced",
  },
  {
    name: "an old link sharing its line",
    before: `<meta name=a> <link rel=pm href=${OLD}> <meta name=b>`,
    endpoint: E,
    after: `<meta name=a> ${TAG} <meta name=b>`,
    action: "replaced",
  },
  { name: "a pm link without href", before: `<link rel="pm">\n`, endpoint: E, after: `${TAG}\n`, action: "replaced" },
  {
    name: "two pm links: the first is rewritten, the second goes with its line",
    before: `<link rel="pm" href="${OLD}">\n<meta name=a>\n  <link rel="pm" href="https://third.example/">\n<meta name=b>`,
    endpoint: E,
    after: `${TAG}\n<meta name=a>\n<meta name=b>`,
    action: "replaced",
  },
  { name: "two pm links, the first already right", before: `${TAG}\n<link rel="pm" href="${OLD}">`, endpoint: E, after: TAG, action: "replaced" },

  // removing
  { name: "remove: our appended line", before: `${GA}${TAG}\n`, endpoint: null, after: GA, action: "removed" },
  { name: "remove: the last line without a newline", before: `<meta name=a>\n${TAG}`, endpoint: null, after: "<meta name=a>", action: "removed" },
  { name: "remove: the only content", before: TAG, endpoint: null, after: "", action: "removed" },
  {
    name: "remove: a link sharing its line keeps the rest of the line",
    before: `<meta name=a>${TAG}<meta name=b>\n`,
    endpoint: null,
    after: "<meta name=a><meta name=b>\n",
    action: "removed",
  },
  {
    name: "remove: every pm link, comments kept",
    before: `<!-- pm -->\n<link rel="pm" href="${OLD}">\r\n<link rel="pm me" href="${E}">\r\n<script>1</script>`,
    endpoint: null,
    after: "<!-- pm -->\n<script>1</script>",
    action: "removed",
  },
  { name: "remove: nothing to remove", before: GA, endpoint: null, after: GA, action: "unchanged" },
  { name: "remove: a commented-out link stays", before: `<!-- ${TAG} -->`, endpoint: null, after: `<!-- ${TAG} -->`, action: "unchanged" },
];

function apply(html: string, endpoint: string | null) {
  return endpoint === null ? removePmLink(html) : setPmLink(html, endpoint);
}

/** What §1 step 3 discovery reads from a page whose head holds `head` (as `{{ghost_head}}` prints it). */
function discovered(head: string): string | null {
  const page = `<!doctype html><html><head><title>Blog</title>\n<link rel="webmention" href="https://blog.example/webmentions/receive/">\n${head}\n</head><body><a rel="pm" href="https://body.example/">x</a></body></html>`;
  const body = new TextEncoder().encode(page);
  const headers = new Headers({ "content-type": "text/html; charset=utf-8" });
  const found = endpointFromResponse({ url: "https://blog.example/", status: 200, headers, body, truncated: false, redirects: [] }, { dev: false });
  return found.endpoint;
}

describe("the code-injection merge (fixture table)", () => {
  it.each(ROWS)("$name", ({ before, endpoint, after, action }) => {
    const change = apply(before, endpoint);
    expect(change.html).toBe(after);
    expect(change.action).toBe(action);
    expect(change.changed).toBe(action !== "unchanged");
  });

  it.each(ROWS)("$name: a second run changes nothing", ({ before, endpoint }) => {
    const once = apply(before, endpoint).html;
    const twice = apply(once, endpoint);
    expect(twice.action).toBe("unchanged");
    expect(twice.html).toBe(once);
  });

  it.each(ROWS.filter((row) => row.endpoint !== null))("$name: PROTOCOL.md §1 discovery then finds the endpoint", ({ before, endpoint }) => {
    expect(discovered(apply(before, endpoint).html)).toBe(new URL(endpoint!).href);
  });

  it.each(ROWS.filter((row) => row.action === "added"))("$name: removing what was added gives back the owner's bytes", ({ before, endpoint }) => {
    expect(removePmLink(setPmLink(before, endpoint!).html).html).toBe(before);
  });

  it.each(ROWS.filter((row) => row.endpoint === null))("$name: discovery then finds no endpoint in the injection", ({ before }) => {
    expect(findPmLinks(removePmLink(before).html)).toEqual([]);
  });
});

describe("findPmLinks", () => {
  it("gives each element's offsets, source and decoded href", () => {
    const html = `<meta>\n<link href="a?x=1&amp;y=2" rel="PM">`;
    expect(findPmLinks(html)).toEqual([{ start: 7, end: html.length, source: `<link href="a?x=1&amp;y=2" rel="PM">`, href: "a?x=1&y=2" }]);
  });

  it("ignores <a rel=pm> (code injection is the head) and links in <style>", () => {
    expect(findPmLinks(`<style><link rel=pm href=x></style><a rel=pm href=y>y</a>`)).toEqual([]);
  });
});

describe("pmLinkTag", () => {
  it("writes the element the issue names", () => {
    expect(pmLinkTag("https://pm.example/")).toBe('<link rel="pm" href="https://pm.example/">');
  });
});

describe("owner content that would swallow the link", () => {
  it.each([
    { name: "an unclosed script", before: "<script>track()" },
    { name: "an unclosed comment", before: "<!-- old stuff" },
    { name: "an unclosed style", before: "<style>a{}" },
  ])("$name: refused with a sentence saying what to fix", ({ before }) => {
    expect(() => setPmLink(before, E)).toThrow(GhostError);
    expect(() => setPmLink(before, E)).toThrow(/unclosed <script>, <style>, <textarea> or comment/);
  });
});
