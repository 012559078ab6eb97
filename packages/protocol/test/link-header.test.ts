/** PROTOCOL.md §1 step 2: `Link` headers (RFC 8288). One row per case. */
import { describe, expect, it } from "vitest";
import { findPmLink, parseLinkHeader } from "../src/discovery/link-header.js";

describe("§1 step 2 findPmLink", () => {
  // [name, header value(s), target of the pm link | null]
  const rows: Array<[string, string | string[] | null, string | null]> = [
    ["absolute, quoted rel", '<https://pm.example/>; rel="pm"', "https://pm.example/"],
    ["unquoted rel", "<https://pm.example/>; rel=pm", "https://pm.example/"],
    ["relative target", "</pm>; rel=pm", "/pm"],
    ["empty target", '<>; rel="pm"', ""],
    ["upper-case rel and param name", '</pm>; REL="PM"', "/pm"],
    ["several relation types", '</pm>; rel="me pm webmention"', "/pm"],
    ["relation types separated by tabs and runs of spaces", '</pm>; rel="me \t  pm"', "/pm"],
    ["not-pm is not pm", '</x>; rel="not-pm", </pm>; rel=pm', "/pm"],
    ["pm-ish tokens only", '</x>; rel="pmx xpm p-m"', null],
    ["second link of a header", '</a>; rel="webmention", </pm>; rel="pm"', "/pm"],
    ["first of two pm links", "</one>; rel=pm, </two>; rel=pm", "/one"],
    ["several headers", ['</a>; rel="webmention"', '</pm>; rel="pm"'], "/pm"],
    ["several headers, first wins", ["</first>; rel=pm", "</second>; rel=pm"], "/first"],
    ["comma and semicolon inside <>", '<https://pm.example/a,b;c?x=1,2>; rel="pm"', "https://pm.example/a,b;c?x=1,2"],
    ["comma and semicolon in a quoted param before rel", '</a>; title="a, b; rel=pm", </pm>; rel=pm', "/pm"],
    ["escaped quote in a quoted param", '</a>; title="say \\"rel=pm\\", ok"; rel=me, </pm>; rel=pm', "/pm"],
    ["quoted param with comma on the pm link itself", '</pm>; title="x, y"; rel="pm"', "/pm"],
    ["rel after other params", '</pm>; type="text/html"; rel=pm; title=x', "/pm"],
    ["whitespace around ; and =", "</pm> ;  rel = pm ", "/pm"],
    ["only the first rel param counts", "</a>; rel=me; rel=pm, </b>; rel=pm", "/b"],
    ["a link without rel", "</a>; title=pm", null],
    ["rel* is not rel", "</a>; rel*=UTF-8''pm", null],
    ["malformed link-value skipped", "garbage, </pm>; rel=pm", "/pm"],
    ["malformed params skipped to the next link", "</a> junk; rel=pm, </pm>; rel=pm", "/pm"],
    ["no header", null, null],
    ["empty header", "", null],
    ["empty members between commas", ", , </pm>; rel=pm ,", "/pm"],
    ["unterminated <", "<https://pm.example/; rel=pm", null],
  ];

  it.each(rows)("%s", (_name, header, expected) => {
    expect(findPmLink(header)?.target ?? null).toBe(expected);
  });
});

describe("parseLinkHeader", () => {
  it("returns every link-value with lowercased relation types and parameters", () => {
    expect(parseLinkHeader('</a>; rel="Me PM"; Title="T, 1", <b>; rel=next; anchor="#x"')).toEqual([
      { target: "/a", rel: ["me", "pm"], params: { rel: "Me PM", title: "T, 1" } },
      { target: "b", rel: ["next"], params: { rel: "next", anchor: "#x" } },
    ]);
  });

  it("treats a parameter named __proto__ as data", () => {
    const [link] = parseLinkHeader("</a>; __proto__=x; rel=pm");
    expect(link?.params.__proto__).toBe("x");
    expect(link?.rel).toEqual(["pm"]);
  });
});
