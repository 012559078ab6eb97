/**
 * Real Eleventy builds from code, as eleventy-plugin-rss tests itself: `new Eleventy(input,
 * output, { config })`, then `toJSON()` or the files written.
 */
import { HtmlBasePlugin } from "@11ty/eleventy";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import indiepm, { PmPluginError } from "../src/index.js";
import { buildError, buildJson, buildJsonInChild, buildWrite, count, createSite, type Site } from "./support/sites.js";

const E = "https://pm.alice.example.uk/";
const LINK = `<link rel="pm" href="${E}">`;

const LAYOUT_NJK = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<link rel="stylesheet" href="/style.css">
</head>
<body>
{{ content | safe }}
<a href="/about/">About</a>
</body>
</html>
`;

const LAYOUT_LIQUID = `<!DOCTYPE html>
<HTML>
<HEAD>
<TITLE>{{ title }}</TITLE>
</HEAD>
<BODY>{{ content }}</BODY>
</HTML>
`;

const sites: Site[] = [];
async function site(files: Record<string, string>, options?: { linkPackage?: boolean }): Promise<Site> {
  const s = await createSite(files, options);
  sites.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(sites.splice(0).map((s) => s.remove()));
});

const withPlugin =
  (options: Record<string, unknown> = {}) =>
  (eleventyConfig: any) => {
    eleventyConfig.addPlugin(indiepm, { endpoint: E, ...options });
  };

const byUrl = (pages: { url: string | false; content: string }[]) => Object.fromEntries(pages.map((p) => [String(p.url), p.content]));

describe("every HTML page names the endpoint", () => {
  it("Markdown with a Nunjucks layout, Liquid with a layout, a Nunjucks page, an 11ty.js page: the link once, in the head", async () => {
    const s = await site({
      "_includes/base.njk": LAYOUT_NJK,
      "_includes/base.liquid": LAYOUT_LIQUID,
      "index.md": "---\nlayout: base.njk\ntitle: Home\n---\n# Hello\n\nWelcome to *my* site.\n",
      "about.liquid": "---\nlayout: base.liquid\ntitle: About\npermalink: /about/\n---\n<p>{{ title }} me</p>\n",
      "contact.njk": "---\npermalink: /contact/\n---\n<!doctype html><html><head><title>Contact</title></head><body>{{ 1 + 1 }}</body></html>\n",
      "now.11ty.js": "export default { data: { permalink: '/now/' }, render() { return '<!doctype html><head><title>Now</title></head><p>now</p>'; } };\n",
    });
    const pages = byUrl(await buildJson(s, { config: withPlugin() }));
    expect(Object.keys(pages).sort()).toEqual(["/", "/about/", "/contact/", "/now/"]);
    for (const content of Object.values(pages)) expect(count(content, 'rel="pm"')).toBe(1);
    expect(pages["/"]).toContain(`<head>\n<meta charset="utf-8">${LINK}\n<title>Home</title>`);
    expect(pages["/about/"]).toContain(`<HEAD>${LINK}\n<TITLE>About</TITLE>`);
    expect(pages["/contact/"]).toContain(`<head>${LINK}<title>Contact</title>`);
    expect(pages["/now/"]).toBe(`<!doctype html><head>${LINK}<title>Now</title></head><p>now</p>`);

    // What is written is what toJSON() returned.
    await buildWrite(s, { config: withPlugin() });
    expect(await s.read("index.html")).toBe(pages["/"]);
    expect(await s.read("about/index.html")).toBe(pages["/about/"]);
  });

  it("pages without a head get the link where HTML parsing opens the head, after the doctype; fragments are left as they are", async () => {
    const s = await site({
      "bare.html": "---\npermalink: /bare/\n---\n<!doctype html>\n<title>Bare</title>\n<p>No head here.</p>\n",
      "no-doctype.html": "---\npermalink: /no-doctype/\n---\n<html><body><p>Old school.</p></body></html>\n",
      "fragment.njk": "---\npermalink: /fragment.html\n---\n<p>A fragment</p>\n",
      "body-only.md": "---\npermalink: /body-only/\n---\nJust *Markdown*, no layout.\n",
    });
    const pages = byUrl(await buildJson(s, { config: withPlugin() }));
    expect(pages["/bare/"]).toBe(`<!doctype html>\n${LINK}<title>Bare</title>\n<p>No head here.</p>\n`);
    expect(pages["/no-doctype/"]).toBe(`<html>${LINK}<body><p>Old school.</p></body></html>\n`);
    // Not whole documents (no doctype, <html>, <head> or <body>): byte for byte what Eleventy made.
    const plain = byUrl(await buildJson(s));
    expect(pages["/fragment.html"]).toBe("<p>A fragment</p>\n");
    expect(pages["/body-only/"]).toBe(plain["/body-only/"]);
    expect(pages["/body-only/"]).toBe("<p>Just <em>Markdown</em>, no layout.</p>\n");
  });

  it("a page that already names a rel=pm endpoint is left as it is; `replace` rewrites it", async () => {
    const files = {
      "same.njk": `---\npermalink: /same/\n---\n<!doctype html><head><link rel="pm" href="${E}"></head>`,
      "other.njk":
        '---\npermalink: /other/\n---\n<!doctype html><head><title>x</title></head><body><a rel="pm" href="https://pm.elsewhere.example/">write</a></body>',
    };
    const kept = byUrl(await buildJson(await site(files), { config: withPlugin() }));
    expect(kept["/same/"]).toBe(`<!doctype html><head><link rel="pm" href="${E}"></head>`);
    expect(kept["/other/"]).toBe('<!doctype html><head><title>x</title></head><body><a rel="pm" href="https://pm.elsewhere.example/">write</a></body>');

    const replaced = byUrl(await buildJson(await site(files), { config: withPlugin({ replace: true }) }));
    expect(replaced["/same/"]).toBe(kept["/same/"]);
    expect(replaced["/other/"]).toBe(`<!doctype html><head><title>x</title></head><body><a rel="pm" href="${E}">write</a></body>`);
  });

  it("feeds, JSON, CSS and `permalink: false` pages are untouched", async () => {
    const files = {
      "_includes/base.njk": LAYOUT_NJK,
      "posts/first.md": "---\nlayout: base.njk\ntitle: First\ntags: posts\ndate: 2024-01-02\n---\nFirst <head> post.\n",
      "feed.njk":
        '---\npermalink: /feed.xml\n---\n<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>{% for p in collections.posts %}<entry><title>{{ p.data.title }}</title><content type="html">{{ p.content }}</content></entry>{% endfor %}</feed>\n',
      "feed-json.njk": '---\npermalink: /feed.json\n---\n{"items": [{% for p in collections.posts %}{"html": {{ p.content | dump | safe }}}{% endfor %}]}\n',
      "style.njk": "---\npermalink: /style.css\n---\nhead { display: none }\n",
      "draft.md": "---\nlayout: base.njk\ntitle: Draft\npermalink: false\n---\nNot written.\n",
    };
    const plain = await buildJson(await site(files));
    const plugged = await buildJson(await site(files), { config: withPlugin() });
    // toJSON() lists pages in the order their templates finished rendering: sort them.
    const nonHtml = (pages: typeof plain) =>
      pages
        .filter((p) => !String(p.outputPath).endsWith(".html"))
        .map((p) => [p.url, p.content])
        .sort((a, b) => String(a[0]).localeCompare(String(b[0])) || String(a[1]).localeCompare(String(b[1])));
    expect(nonHtml(plugged)).toEqual(nonHtml(plain));
    expect(nonHtml(plugged).map(([url]) => url)).toEqual(expect.arrayContaining(["/feed.xml", "/feed.json", "/style.css", false]));
    expect(count(byUrl(plugged)["/feed.xml"]!, "rel=")).toBe(0);
    expect(count(byUrl(plugged)["/posts/first/"]!, LINK)).toBe(1);
  });

  it("with pathPrefix and the HTML <base> plugin: the absolute endpoint is kept as it is, the site's own URLs get the prefix", async () => {
    const s = await site({ "_includes/base.njk": LAYOUT_NJK, "index.md": "---\nlayout: base.njk\ntitle: Home\n---\nHi\n" });
    const config = (eleventyConfig: any) => {
      eleventyConfig.addPlugin(HtmlBasePlugin);
      eleventyConfig.addPlugin(indiepm, { endpoint: E });
    };
    await buildWrite(s, { config, pathPrefix: "/blog/" });
    const home = await s.read("index.html");
    expect(home).toContain('href="/blog/style.css"');
    expect(home).toContain('href="/blog/about/"');
    expect(count(home, LINK)).toBe(1);
    expect(home.indexOf(LINK)).toBeLessThan(home.indexOf("</head>"));
  });
});

describe("the `shortcode` and `globalData` options: nothing in the site's namespace unless asked (issue 9 item 13)", () => {
  it("asked for, they place the link by hand in Nunjucks, Liquid and JavaScript templates; the transform then leaves the page alone", async () => {
    const s = await site({
      "a.njk": "---\npermalink: /a/\n---\n<!doctype html><head><title>a</title>{% pmLink %}</head><p>{{ pmEndpoint }}</p>",
      "b.liquid": "---\npermalink: /b/\n---\n<!doctype html><head><title>b</title>{% pmLink %}</head><p>{{ pmEndpoint }}</p>",
      "c.11ty.js":
        "export default { data: { permalink: '/c/' }, render(data) { return `<!doctype html><head><title>c</title>${this.pmLink()}</head><p>${data.pmEndpoint}</p>`; } };\n",
    });
    const pages = byUrl(await buildJson(s, { config: withPlugin({ pages: "none", shortcode: true, globalData: true }) }));
    for (const name of ["a", "b", "c"]) {
      expect(pages[`/${name}/`]).toBe(`<!doctype html><head><title>${name}</title>${LINK}</head><p>${E}</p>`);
    }
    const injected = byUrl(await buildJson(s, { config: withPlugin({ shortcode: true, globalData: true }) }));
    expect(injected).toEqual(pages);
  });

  it("by default the plugin adds no shortcode, filter, tag or data: the site's own `pmLink` and `pmEndpoint` keep their values", async () => {
    const files = {
      "_data/pmEndpoint.json": '"https://mine.example/"',
      "keys.11ty.js":
        "export default { data: { permalink: '/keys.json' }, render(data) { return JSON.stringify({ pmEndpoint: data.pmEndpoint, keys: Object.keys(data).sort() }); } };\n",
      "index.njk": "<!doctype html><head>{% pmLink %}</head><p>{{ pmEndpoint }}</p>",
    };
    const names = (config: any) =>
      Object.fromEntries(
        (["universal", "nunjucks", "liquid", "javascript"] as const).map((engine) => [
          engine,
          Object.fromEntries(
            Object.entries(config[engine])
              .filter(([, map]) => map && typeof map === "object")
              .map(([kind, map]) => [kind, Object.keys(map as object).sort()]),
          ),
        ]),
      );
    const seen: Record<string, unknown> = {};
    const build = (withIt: boolean) => async () =>
      byUrl(
        await buildJson(await site(files), {
          config: (c: any) => {
            c.addShortcode("pmLink", () => "<!-- the site's own -->");
            if (withIt) c.addPlugin(indiepm, { endpoint: E });
            c.on("eleventy.before", () => void (seen[String(withIt)] = { names: names(c), data: Object.keys(c.globalData).sort() }));
          },
        }),
      );
    const plain = await build(false)();
    const plugged = await build(true)();
    expect(seen.true).toEqual(seen.false);
    expect(plugged["/keys.json"]).toBe(plain["/keys.json"]);
    expect(JSON.parse(plugged["/keys.json"]!).pmEndpoint).toBe("https://mine.example/");
    expect(plugged["/"]).toBe(`<!doctype html><head>${LINK}<!-- the site's own --></head><p>https://mine.example/</p>`);
  });

  it("`shortcode` and `globalData` take a name of the site's choosing", async () => {
    const s = await site({
      "index.njk": "<!doctype html><head>{% pmHead %}</head><p>{{ myPm }}</p>",
      "other.liquid": "---\npermalink: /other/\n---\n<!doctype html><head>{% pmLink %}</head>",
    });
    const config = (c: any) => {
      c.addShortcode("pmLink", () => "<!-- the site's own -->");
      c.addPlugin(indiepm, { endpoint: E, pages: "none", shortcode: "pmHead", globalData: "myPm" });
    };
    const pages = byUrl(await buildJson(s, { config }));
    expect(pages["/"]).toBe(`<!doctype html><head>${LINK}</head><p>${E}</p>`);
    expect(pages["/other/"]).toBe("<!doctype html><head><!-- the site's own --></head>");
  });

  // Each row: what the site has, what the plugin is asked for, the sentence that stops the build.
  const P = "@indiepm/eleventy-plugin: option ";
  const SC = "choose another name for it, or leave `shortcode` out and let the plugin place the link.";
  const collisions: {
    name: string;
    files?: Record<string, string>;
    before?: (c: any) => void;
    options: Record<string, unknown>;
    after?: (c: any) => void;
    message: string;
  }[] = [
    {
      name: "a shortcode of that name",
      before: (c) => c.addShortcode("pmLink", () => ""),
      options: { shortcode: true },
      message: `${P}\`shortcode\` is "pmLink", but the site already has a shortcode, tag or filter of that name; ${SC}`,
    },
    {
      name: "a Liquid tag of that name",
      before: (c) =>
        c.addLiquidTag("pmHead", () => ({
          parse() {},
          render() {
            return "";
          },
        })),
      options: { shortcode: "pmHead" },
      message: `${P}\`shortcode\` is "pmHead", but the site already has a shortcode, tag or filter of that name; ${SC}`,
    },
    {
      name: "a filter of that name (the same `this.name` in JavaScript templates)",
      before: (c) => c.addFilter("pmLink", (x: unknown) => x),
      options: { shortcode: true },
      message: `${P}\`shortcode\` is "pmLink", but the site already has a shortcode, tag or filter of that name; ${SC}`,
    },
    {
      name: "a paired shortcode of that name",
      before: (c) => c.addPairedShortcode("pmLink", (x: string) => x),
      options: { shortcode: true },
      message: `${P}\`shortcode\` is "pmLink", but the site already has a shortcode, tag or filter of that name; ${SC}`,
    },
    {
      name: "a shortcode of that name added by a plugin after this one",
      options: { shortcode: true },
      after: (c) => c.addPlugin((inner: any) => inner.addShortcode("pmLink", () => "")),
      message: `${P}\`shortcode\` is "pmLink", but a shortcode, tag or filter of that name was added after the plugin (by the config or another plugin); ${SC}`,
    },
    {
      name: "a built-in tag",
      options: { shortcode: "include" },
      message: `${P}\`shortcode\` is "include", a built-in Nunjucks or Liquid tag; choose another name such as "pmLink".`,
    },
    {
      name: "global data of that name",
      before: (c) => c.addGlobalData("pmEndpoint", "x"),
      options: { globalData: true },
      message: `${P}\`globalData\` is "pmEndpoint", but the site already defines that key (addGlobalData or addNunjucksGlobal); choose another name.`,
    },
    {
      name: "a Nunjucks global of that name",
      before: (c) => c.addNunjucksGlobal("pm", "x"),
      options: { globalData: "pm" },
      message: `${P}\`globalData\` is "pm", but the site already defines that key (addGlobalData or addNunjucksGlobal); choose another name.`,
    },
    {
      name: "a _data file of that name",
      files: { "_data/pmEndpoint.json": '"x"' },
      options: { globalData: true },
      message: `${P}\`globalData\` is "pmEndpoint", but the site already defines that key in src/_data/pmEndpoint.json; choose another name.`,
    },
    {
      name: "a _data folder of that name",
      files: { "_data/pm/inbox.js": "export default 1;\n" },
      options: { globalData: "pm" },
      message: `${P}\`globalData\` is "pm", but the site already defines that key in src/_data/pm/inbox.js; choose another name.`,
    },
    {
      name: "global data of that name added by a plugin after this one",
      options: { globalData: true },
      after: (c) => c.addPlugin((inner: any) => inner.addGlobalData("pmEndpoint", "x")),
      message: `${P}\`globalData\` is "pmEndpoint", but that key was defined again after the plugin (by the config or another plugin); choose another name.`,
    },
    {
      name: "a key Eleventy uses",
      options: { globalData: "page" },
      message: `${P}\`globalData\` is "page", a data key Eleventy uses; choose another name such as "pmEndpoint".`,
    },
  ];
  it.each(collisions)("a collision stops the build: $name", async ({ files, before, options, after, message }) => {
    const s = await site({ "index.njk": "<!doctype html><head></head>", ...files });
    const cwd = process.cwd();
    process.chdir(s.root); // the message names a _data file relative to the working directory
    try {
      const error = await buildError(s, {
        config: (c: any) => {
          before?.(c);
          c.addPlugin(indiepm, { endpoint: E, ...options });
          after?.(c);
        },
      });
      const ours = (error.originalError ?? error) as Error & { code?: string };
      expect(ours).toBeInstanceOf(PmPluginError);
      expect(ours.code).toBe("invalid_config");
      expect(ours.message).toBe(message);
    } finally {
      process.chdir(cwd);
    }
  });
});

describe("options", () => {
  const files = {
    "index.html": "<!doctype html><head></head>",
    "about/index.html": "<!doctype html><head></head>",
    "blog/one/index.html": "<!doctype html><head></head>",
    "blog/two/index.html": "<!doctype html><head></head>",
  };
  const named = async (options: Record<string, unknown>) =>
    Object.entries(byUrl(await buildJson(await site(files), { config: withPlugin(options) })))
      .filter(([, content]) => content.includes(LINK))
      .map(([url]) => url)
      .sort();

  it.each([
    [{}, ["/", "/about/", "/blog/one/", "/blog/two/"]],
    [{ pages: "home" }, ["/"]],
    [{ pages: "none" }, []],
    [{ pages: "blog/**/*.html" }, ["/blog/one/", "/blog/two/"]],
    [{ pages: ["index.html", "/about/*.html"] }, ["/", "/about/"]],
    [{ pages: "{index,blog/two/index}.html" }, ["/", "/blog/two/"]],
  ])("pages %j", async (options, expected) => {
    expect(await named(options)).toEqual(expected);
  });

  it("is a unique plugin: the first addPlugin wins", async () => {
    const s = await site(files);
    const config = (eleventyConfig: any) => {
      eleventyConfig.addPlugin(indiepm, { endpoint: E });
      eleventyConfig.addPlugin(indiepm, { endpoint: "https://pm.second.example/" });
    };
    const pages = await buildJson(s, { config });
    for (const page of pages) expect(page.content).toBe(`<!doctype html><head>${LINK}</head>`);
    expect(indiepm.eleventyPackage).toBe("@indiepm/eleventy-plugin");
    expect(indiepm.eleventyPluginOptions).toEqual({ unique: true });
  });

  it("checks Eleventy's version against the 11ty.compatibility field of package.json", async () => {
    const manifest = JSON.parse(await readFile(new URL("../package.json", import.meta.url), "utf8"));
    const ranges: string[] = [];
    const fake = {
      versionCheck: (range: string) => void ranges.push(range),
      addTransform() {},
      addShortcode() {},
      addGlobalData() {},
      on() {},
    };
    indiepm(fake, { endpoint: E });
    expect(ranges).toEqual([manifest["11ty"].compatibility]);
    expect(manifest["11ty"].compatibility).toBe(">=3.0.0");
    const tooOld = {
      ...fake,
      versionCheck: () => {
        throw new Error("incompatible Eleventy");
      },
    };
    expect(() => indiepm(tooOld, { endpoint: E })).toThrow("incompatible Eleventy");
  });

  it("says how to add it when it is called directly", () => {
    expect(() => (indiepm as any)({ endpoint: E })).toThrow(PmPluginError);
    expect(() => (indiepm as any)({ endpoint: E })).toThrow("eleventyConfig.addPlugin(indiepm, { endpoint })");
  });
});

describe("ESM and CommonJS config files", () => {
  const page = { "index.html": "<!doctype html><head><title>t</title></head>" };

  it.each([
    [
      "eleventy.config.cjs (require)",
      "eleventy.config.cjs",
      `const indiepm = require("@indiepm/eleventy-plugin");\nmodule.exports = function (eleventyConfig) {\n  eleventyConfig.addPlugin(indiepm, { endpoint: "${E}" });\n};\n`,
    ],
    [
      "eleventy.config.mjs (import)",
      "eleventy.config.mjs",
      `import indiepm from "@indiepm/eleventy-plugin";\nexport default function (eleventyConfig) {\n  eleventyConfig.addPlugin(indiepm, { endpoint: "${E}" });\n}\n`,
    ],
  ])("%s", async (_name, file, source) => {
    // The package is linked into the site's node_modules as an install would put it;
    // the config loads its built dist (run `tsc -b` first, as `pnpm test` does).
    const s = await site(page, { linkPackage: true });
    await writeFile(join(s.root, file), source);
    const [home] = await buildJsonInChild(s, file);
    expect(home!.content).toBe(`<!doctype html><head>${LINK}<title>t</title></head>`);
  });
});
