/**
 * `headers: true`: `Link: <endpoint>; rel="pm"` in `_headers` (Netlify, Cloudflare
 * Pages), merged with the site's own file. The merge rules as a table, then real builds.
 */
import { readFile, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { headerPaths, MARKER, mergeHeaders } from "../src/headers.js";
import indiepm from "../src/index.js";
import { buildJson, buildWrite, createSite, type Site } from "./support/sites.js";

const E = "https://pm.alice.example.uk/";
const H = `Link: <${E}>; rel="pm"`;

describe("mergeHeaders", () => {
  it.each([
    { name: "no file: a rule of our own", existing: "", paths: ["/*"], expected: `${MARKER}\n/*\n  ${H}\n` },
    {
      name: "the site's rule for the same path receives the line (Netlify joins one rule's values)",
      existing: "/*\n  X-Frame-Options: DENY\n  Link: </style.css>; rel=preload\n",
      paths: ["/*"],
      expected: `/*\n  X-Frame-Options: DENY\n  Link: </style.css>; rel=preload\n  ${MARKER}\n  ${H}\n`,
    },
    {
      name: "rules for other paths are kept; ours is added after them",
      existing: "# security\n/admin/*\n\tX-Robots-Tag: noindex\n",
      paths: ["/", "/about/"],
      expected: `# security\n/admin/*\n\tX-Robots-Tag: noindex\n\n${MARKER}\n/\n  ${H}\n${MARKER}\n/about/\n  ${H}\n`,
    },
    {
      name: "the site's own rel=pm for that path is left alone",
      existing: '/\n  Link: <https://pm.elsewhere.example/>; rel="pm"\n',
      paths: ["/"],
      expected: '/\n  Link: <https://pm.elsewhere.example/>; rel="pm"\n',
    },
    {
      name: "with replace, the site's rel=pm link goes and its other links stay",
      existing: '/\n    Link: </a.css>; rel=preload, <https://pm.elsewhere.example/>; rel="me pm"\n',
      paths: ["/"],
      replace: true,
      expected: `/\n    Link: </a.css>; rel=preload\n    ${MARKER}\n    ${H}\n`,
    },
    { name: "CRLF files stay CRLF", existing: "/*\r\n  X-A: 1\r\n", paths: ["/*"], expected: `/*\r\n  X-A: 1\r\n  ${MARKER}\r\n  ${H}\r\n` },
  ])("$name", ({ existing, paths, replace, expected }) => {
    const options = replace === undefined ? {} : { replace };
    const merged = mergeHeaders(existing, paths, E, options);
    expect(merged).toBe(expected);
    // Merging the result again (an output folder that was not cleaned) changes nothing.
    expect(mergeHeaders(merged, paths, E, options)).toBe(expected);
  });

  it("removes what an earlier build added, so a new endpoint or fewer pages leave nothing stale", () => {
    const first = mergeHeaders("/*\n  X-A: 1\n", ["/*", "/about/"], "https://old.example/");
    expect(mergeHeaders(first, ["/*"], E)).toBe(`/*\n  X-A: 1\n  ${MARKER}\n  ${H}\n`);
    expect(mergeHeaders(first, [], E)).toBe("/*\n  X-A: 1\n");
    expect(mergeHeaders(mergeHeaders("", ["/"], E), [], E)).toBe("");
  });

  it("uses /* only when every page names the endpoint and the plugin covers them all", () => {
    const pages = [
      { url: "/", namesEndpoint: true },
      { url: "/about/", namesEndpoint: true },
    ];
    expect(headerPaths(pages, { kind: "all" })).toEqual(["/*"]);
    expect(headerPaths(pages, { kind: "home" })).toEqual(["/", "/about/"]);
    expect(headerPaths([...pages, { url: "/other/", namesEndpoint: false }], { kind: "all" })).toEqual(["/", "/about/"]);
    expect(headerPaths([{ url: "/", namesEndpoint: false }], { kind: "all" })).toEqual([]);
  });
});

describe("headers: true in a build", () => {
  const sites: Site[] = [];
  afterEach(async () => {
    await Promise.all(sites.splice(0).map((s) => s.remove()));
  });
  const site = async (files: Record<string, string>) => {
    const s = await createSite(files);
    sites.push(s);
    return s;
  };
  const config =
    (options: Record<string, unknown> = {}, setup?: (eleventyConfig: any) => void) =>
    (eleventyConfig: any) => {
      setup?.(eleventyConfig);
      eleventyConfig.addPlugin(indiepm, { endpoint: E, headers: true, ...options });
    };
  const pages = {
    "index.html": "<!doctype html><head><title>home</title></head>",
    "about/index.html": "<!doctype html><head><title>about</title></head>",
    "feed.njk": "---\npermalink: /feed.xml\n---\n<feed></feed>",
  };

  it("writes a /* rule when every page names the endpoint", async () => {
    const s = await site(pages);
    await buildWrite(s, { config: config() });
    expect(await s.read("_headers")).toBe(`${MARKER}\n/*\n  ${H}\n`);
  });

  it("merges with the site's own _headers (passthrough copy), and a rebuild into the same folder does not add it twice", async () => {
    const s = await site({ ...pages, _headers: "/*\n  X-Frame-Options: DENY\n\n/feed.xml\n  Content-Type: application/atom+xml\n" });
    const setup = (eleventyConfig: any) => eleventyConfig.addPassthroughCopy({ [join(s.input, "_headers")]: "_headers" });
    await buildWrite(s, { config: config({}, setup) });
    const expected = `/*\n  X-Frame-Options: DENY\n  ${MARKER}\n  ${H}\n\n/feed.xml\n  Content-Type: application/atom+xml\n`;
    expect(await s.read("_headers")).toBe(expected);
    await buildWrite(s, { config: config({}, setup) });
    expect(await s.read("_headers")).toBe(expected);
  });

  it("merges with a _headers produced by a template, and with one already in the output folder", async () => {
    const s = await site({ ...pages, "headers.njk": "---\npermalink: /_headers\n---\n/about/\n  X-About: yes\n" });
    await buildWrite(s, { config: config() });
    expect(await s.read("_headers")).toBe(`/about/\n  X-About: yes\n\n${MARKER}\n/*\n  ${H}\n`);

    const t = await site(pages);
    await buildWrite(t, { config: config() });
    await writeFile(join(t.output, "_headers"), `/secret/*\n  X-Robots-Tag: noindex\n${await t.read("_headers")}`);
    await buildWrite(t, { config: config({ endpoint: "https://pm.new.example/" }) });
    expect(await t.read("_headers")).toBe(`/secret/*\n  X-Robots-Tag: noindex\n\n${MARKER}\n/*\n  Link: <https://pm.new.example/>; rel="pm"\n`);
  });

  it("names only the pages that name the endpoint when the plugin covers some of them", async () => {
    const s = await site({ ...pages, "contact/index.njk": `<!doctype html><head>{% pmLink %}</head>` });
    await buildWrite(s, { config: config({ pages: "home", shortcode: true }) });
    expect(await s.read("_headers")).toBe(`${MARKER}\n/\n  ${H}\n${MARKER}\n/contact/\n  ${H}\n`);
  });

  it("writes nothing for toJSON(), and nothing at all without the option", async () => {
    const s = await site(pages);
    await buildJson(s, { config: config() });
    expect(existsSync(join(s.output, "_headers"))).toBe(false);
    await buildWrite(s, { config: (c: any) => c.addPlugin(indiepm, { endpoint: E }) });
    expect(existsSync(join(s.output, "_headers"))).toBe(false);
    expect(await readFile(join(s.output, "index.html"), "utf8")).toContain(`<link rel="pm" href="${E}">`);
  });
});
