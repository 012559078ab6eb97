/**
 * Issue 9 item 12: the official eleventy-base-blog (v9) setup, built for real. Its feed
 * (`feedPlugin` of @11ty/eleventy-plugin-rss) renders each post's content through the
 * `renderTransforms` filter, so every transform — the image transform, InputPathToUrl,
 * HtmlBase, and this plugin's — runs on a fragment whose page has an `.html` output path.
 * Only whole documents get the link: the feed must come out byte for byte as it does
 * without the plugin, while every HTML page still gets the link once, in its head.
 */
import { HtmlBasePlugin, IdAttributePlugin, InputPathToUrlTransformPlugin } from "@11ty/eleventy";
import { eleventyImageTransformPlugin } from "@11ty/eleventy-img";
import { feedPlugin } from "@11ty/eleventy-plugin-rss";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import indiepm from "../src/index.js";
import { buildWrite, count, createSite, type Site } from "./support/sites.js";

const E = "https://pm.alice.example.uk/";
const LINK = `<link rel="pm" href="${E}">`;
/** A 4×4 PNG, for the image transform (the base blog's possum.png, smaller). */
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEElEQVR4nGM4Y2wMRwzEcQD7ExMhLF3NIwAAAABJRU5ErkJggg==", "base64");

// The base blog's layouts and posts, trimmed to what reaches the HTML (no CSS bundle, no
// navigation plugin). Layout and tag in each post's front matter, not blog/blog.11tydata.js:
// Eleventy 3.1.8 does not find directory data files when the input folder is an absolute path.
const FILES: Record<string, string> = {
  "_data/metadata.js": 'export default { title: "Eleventy Base Blog v9", url: "https://example.com/", language: "en", description: "A naval navel-gazer." };\n',
  "_includes/layouts/base.njk": `<!doctype html>
<html lang="{{ metadata.language }}">
	<head>
		<meta charset="utf-8">
		<meta name="viewport" content="width=device-width, initial-scale=1.0">
		<title>{{ title or metadata.title }}</title>
		<meta name="description" content="{{ description or metadata.description }}">
		<link rel="alternate" href="/feed/feed.xml" type="application/atom+xml" title="{{ metadata.title }}">
		<style>body { font-family: sans-serif }</style>
	</head>
	<body>
		<a href="#main" id="skip-link" class="visually-hidden">Skip to main content</a>
		<header><a href="/" class="home-link">{{ metadata.title }}</a></header>
		<main id="main">
			<heading-anchors>
				{{ content | safe }}
			</heading-anchors>
		</main>
		<footer><p><em>Built with <a href="https://www.11ty.dev/">{{ eleventy.generator }}</a></em></p></footer>
	</body>
</html>
`,
  "_includes/layouts/post.njk": `---
layout: layouts/base.njk
---
<h1>{{ title }}</h1>
{{ content | safe }}
{%- set previousPost = collections.posts | getPreviousCollectionItem %}
{%- set nextPost = collections.posts | getNextCollectionItem %}
<ul class="links-nextprev">
	{%- if previousPost %}<li>← Previous<br> <a href="{{ previousPost.url }}">{{ previousPost.data.title }}</a></li>{% endif %}
	{%- if nextPost %}<li>Next →<br><a href="{{ nextPost.url }}">{{ nextPost.data.title }}</a></li>{% endif %}
</ul>
`,
  "_includes/layouts/home.njk": "---\nlayout: layouts/base.njk\n---\n{{ content | safe }}\n",
  "index.njk":
    '---\nlayout: layouts/home.njk\n---\n<h1>Latest posts</h1>\n<ul>{% for post in collections.posts | reverse %}<li><a href="{{ post.url }}">{{ post.data.title }}</a></li>{% endfor %}</ul>\n<p>More in <a href="blog.njk">the archive</a>.</p>\n',
  "blog.njk":
    '---\nlayout: layouts/home.njk\npermalink: /blog/\n---\n<h1>Archive</h1>\n<ul>{% for post in collections.posts %}<li><a href="{{ post.url }}">{{ post.data.title }}</a></li>{% endfor %}</ul>\n',
  "blog/firstpost.md":
    "---\nlayout: layouts/post.njk\ntags: posts\ntitle: This is my first post.\ndate: 2018-05-01\n---\nLeverage agile frameworks to provide a robust synopsis, as [the second post](./secondpost.md) says.\n\n## Section Header\n\n```js\nconsole.log('<head>');\n```\n",
  "blog/secondpost.md":
    "---\nlayout: layouts/post.njk\ntags: posts\ntitle: This is my second post.\ndate: 2018-07-04\n---\n<!-- A comment first -->\n\nBring to the table win-win survival strategies. Go [home](/).\n",
  "blog/fourthpost/fourthpost.md":
    '---\nlayout: layouts/post.njk\ntags: posts\ntitle: This is my fourth post\ndate: 2018-09-30\n---\n<img src="./possum.png" alt="A possum parent and two possum kids">\n\nCapitalize on low hanging fruit.\n\n## Section Header\n',
  "blog/fifthpost.md":
    '---\nlayout: layouts/post.njk\ntags: posts\ntitle: This is my fifth post\ndate: 2023-01-23\n---\n<title>A title element</title>\n<meta name="x" content="y">\n\nA post that starts with head elements is still a fragment.\n',
};

type FeedType = "atom" | "rss" | "json";

/** eleventy.config.js of eleventy-base-blog v9, its plugins in its order; `plugin` adds this one last. */
function baseBlogConfig(type: FeedType, plugin?: Record<string, unknown>) {
  return (eleventyConfig: any) => {
    eleventyConfig.addPlugin(HtmlBasePlugin);
    eleventyConfig.addPlugin(InputPathToUrlTransformPlugin);
    eleventyConfig.addPlugin(feedPlugin, {
      type,
      outputPath: type === "json" ? "/feed/feed.json" : "/feed/feed.xml",
      collection: { name: "posts", limit: 10 },
      metadata: { language: "en", title: "Blog Title", subtitle: "A longer description.", base: "https://example.com/", author: { name: "Your Name" } },
    });
    eleventyConfig.addPlugin(eleventyImageTransformPlugin, {
      formats: ["webp", "auto"],
      failOnError: false,
      htmlOptions: { imgAttributes: { loading: "lazy", decoding: "async" } },
      sharpOptions: { animated: true },
    });
    eleventyConfig.addPlugin(IdAttributePlugin);
    if (plugin) eleventyConfig.addPlugin(indiepm, { endpoint: E, ...plugin });
  };
}

const sites: Site[] = [];
async function baseBlog(extra: Record<string, string> = {}): Promise<Site> {
  const s = await createSite({ ...FILES, ...extra });
  sites.push(s);
  await writeFile(join(s.input, "blog", "fourthpost", "possum.png"), PNG);
  return s;
}
afterEach(async () => {
  await Promise.all(sites.splice(0).map((s) => s.remove()));
});

const HTML_PAGES = [
  "index.html",
  "blog/index.html",
  "blog/firstpost/index.html",
  "blog/secondpost/index.html",
  "blog/fourthpost/index.html",
  "blog/fifthpost/index.html",
];

describe("eleventy-base-blog v9: feedPlugin with renderTransforms, HtmlBase, InputPathToUrl, the image transform", () => {
  it.each<FeedType>(["atom", "rss", "json"])(
    "the %s feed is byte for byte the same with and without the plugin; every page gets the link once",
    async (type) => {
      const feedPath = type === "json" ? "feed/feed.json" : "feed/feed.xml";
      const without = await baseBlog();
      await buildWrite(without, { config: baseBlogConfig(type) });
      const withPlugin = await baseBlog();
      await buildWrite(withPlugin, { config: baseBlogConfig(type, {}) });

      const feed = await withPlugin.read(feedPath);
      expect(feed).toBe(await without.read(feedPath));
      expect(feed).not.toMatch(/rel=(?:\\?"|&quot;|&#34;)?pm/);
      // The feed's entries did go through the transforms (so ours saw them too): the image
      // transform's <picture>, InputPathToUrl's /blog/secondpost/, absolute URLs from the base.
      expect(feed).toMatch(/picture/);
      expect(feed).toContain("https://example.com/blog/secondpost/");

      for (const page of HTML_PAGES) {
        const html = await withPlugin.read(page);
        expect(count(html, 'rel="pm"'), page).toBe(1);
        expect(html, page).toContain(`<meta charset="utf-8">${LINK}\n`);
        expect(html.replace(LINK, ""), page).toBe(await without.read(page));
      }
      expect((await readdir(join(withPlugin.output, "blog", "fourthpost"))).filter((f) => f.endsWith(".webp"))).toHaveLength(1);
    },
  );

  it("with `headers`, a feed's fragment does not stand for its page: a post naming another endpoint keeps it out of _headers", async () => {
    const other = {
      "blog/thirdpost.md":
        '---\nlayout: layouts/post.njk\ntags: posts\ntitle: Third\ndate: 2018-08-24\n---\nWrite to me <a rel="pm" href="https://pm.elsewhere.example/">privately</a>.\n',
    };
    const s = await baseBlog(other);
    await buildWrite(s, { config: baseBlogConfig("atom", { headers: true }) });
    expect(await s.read("blog/thirdpost/index.html")).not.toContain(LINK);
    const rules = (await s.read("_headers")).split("\n").filter((line) => line.startsWith("/"));
    // Not every page names the endpoint, so no `/*`: one rule per page that does.
    expect(rules.sort()).toEqual(["/", "/blog/", "/blog/fifthpost/", "/blog/firstpost/", "/blog/fourthpost/", "/blog/secondpost/"]);
  });
});
