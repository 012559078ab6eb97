/**
 * PROTOCOL.md §1: the one writer of the rel=pm link and its one `rel` test. What is
 * written is what discovery reads (steps 2 and 3), escaping included.
 */
import { describe, expect, it } from "vitest";
import { findPmLinkInHtml } from "../src/discovery/html.js";
import { findPmLink } from "../src/discovery/link-header.js";
import { linkHeaderNamesPm, pmLinkElement, pmLinkHeaderValue } from "../src/rel-pm.js";

const ENDPOINTS = ["https://pm.alice.example.uk/", "https://pm.example.net/?site=a&b=1", 'https://pm.example/?q="x"', "http://127.0.0.1:4002/pm/"];

describe("§1 step 3: pmLinkElement", () => {
  it('writes <link rel="pm" href="…">', () => {
    expect(pmLinkElement("https://pm.example/")).toBe('<link rel="pm" href="https://pm.example/">');
    expect(pmLinkElement("https://pm.example.net/?site=a&b=1")).toBe('<link rel="pm" href="https://pm.example.net/?site=a&amp;b=1">');
  });
  it.each(ENDPOINTS)("discovery reads back %s", (endpoint) => {
    expect(findPmLinkInHtml(`<!doctype html><head>${pmLinkElement(endpoint)}</head>`)?.href).toBe(endpoint);
  });
});

describe("§1 step 2: pmLinkHeaderValue", () => {
  it('writes <…>; rel="pm"', () => {
    expect(pmLinkHeaderValue("https://pm.example/")).toBe('<https://pm.example/>; rel="pm"');
  });
  it.each(ENDPOINTS.map((e) => new URL(e).href))("discovery reads back %s", (endpoint) => {
    expect(findPmLink(pmLinkHeaderValue(endpoint))?.target).toBe(endpoint);
    expect(linkHeaderNamesPm(`</style.css>; rel=preload, ${pmLinkHeaderValue(endpoint)}`)).toBe(true);
  });
});

describe("§1 step 2: linkHeaderNamesPm", () => {
  it("reads rel lists in Link values", () => {
    expect(linkHeaderNamesPm('<https://e/>; rel="pm"')).toBe(true);
    expect(linkHeaderNamesPm("<https://e/>; REL=PM")).toBe(true);
    expect(linkHeaderNamesPm('<https://e/?a=b,c>; rel="me pm"')).toBe(true);
    expect(linkHeaderNamesPm('<https://e/>; rel="not-pm"')).toBe(false);
    expect(linkHeaderNamesPm('<https://e/; rel="pm">; rel=me')).toBe(false);
  });
  it("reads every header line, and none", () => {
    expect(linkHeaderNamesPm(["</a.css>; rel=stylesheet", '<https://e/>; rel="pm"'])).toBe(true);
    expect(linkHeaderNamesPm(null)).toBe(false);
  });
});
