/**
 * `@indiepm/eleventy-plugin`: one config line makes every page of an Eleventy site name
 * its pm endpoint (PROTOCOL.md §1), so a static site can receive private messages.
 *
 * ```js
 * import indiepm from "@indiepm/eleventy-plugin";
 * eleventyConfig.addPlugin(indiepm, { endpoint: "https://pm.alice.example.uk/" });
 * ```
 *
 * Built like Eleventy's own plugins (eleventy-plugin-rss): `(eleventyConfig, options)`,
 * a `versionCheck` against the `11ty.compatibility` field of package.json,
 * `eleventyPackage` and `eleventyPluginOptions: { unique: true }` (the first `addPlugin`
 * wins), Eleventy a peer dependency only.
 */
import { readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join, relative, resolve, sep } from "node:path";
import { PmPluginError } from "./errors.js";
import { headerPaths, mergeHeaders, type PageRecord } from "./headers.js";
import { pmLinkElement } from "@indiepm/protocol";
import { findPmLinks, isWholeDocument, namesEndpoint, pmLinkInjector } from "./html.js";
import { addTemplateNames, type NamespaceConfig } from "./namespace.js";
import { resolveOptions, type IndiepmPluginOptions, type PageScope, type ResolvedOptions } from "./options.js";

export { PmPluginError, type PluginErrorCode } from "./errors.js";
export type { IndiepmPluginOptions } from "./options.js";

// Read, not imported: JSON modules still print an ExperimentalWarning on Node 20.
const pkg = createRequire(import.meta.url)("../package.json") as { name: string; "11ty": { compatibility: string } };

/** The transform's name; it is also how Eleventy's benchmark (`DEBUG=Eleventy:Benchmark*`) labels its time. */
const TRANSFORM_NAME = pkg.name;

/** The part of Eleventy's `UserConfig` the plugin uses (the namespace part: namespace.ts). */
export interface EleventyConfig extends NamespaceConfig {
  versionCheck(compatibleRange: string): void;
  addTransform(name: string, callback: (this: TransformContext, content: unknown) => unknown): void;
  on(eventName: string, callback: (event: EleventyBuildEvent) => unknown): void;
  directories?: { readonly output?: string; readonly data?: string };
}

/** `this` in a transform: the page being written. `outputPath` is `false` for `permalink: false`. */
interface TransformContext {
  page?: { inputPath?: string; outputPath?: string | false; url?: string | false };
}

/** What Eleventy passes to `eleventy.before` / `eleventy.after`. */
interface EleventyBuildEvent {
  directories?: { output?: string; data?: string };
  outputMode?: string;
  incremental?: boolean;
}

export interface IndiepmPlugin {
  (eleventyConfig: EleventyConfig, options: IndiepmPluginOptions): void;
  readonly eleventyPackage: string;
  readonly eleventyPluginOptions: { readonly unique: true };
}

function isHtmlOutput(outputPath: unknown): outputPath is string {
  return typeof outputPath === "string" && outputPath.slice(-5).toLowerCase() === ".html";
}

function inScope(scope: PageScope, page: { outputPath: string; url: string | false | undefined }, outputDir: string): boolean {
  switch (scope.kind) {
    case "all":
      return true;
    case "none":
      return false;
    case "home":
      return page.url === "/";
    case "globs": {
      const path = relative(resolve(outputDir), resolve(page.outputPath)).split(sep).join("/");
      return scope.regexps.some((re) => re.test(path));
    }
  }
}

async function writeHeadersFile(outputDir: string, paths: readonly string[], options: ResolvedOptions): Promise<void> {
  const file = join(outputDir, "_headers");
  try {
    let existing = "";
    try {
      existing = await readFile(file, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
    const merged = mergeHeaders(existing, paths, options.endpoint, { replace: options.replace });
    if (merged === existing) return;
    if (merged === "") await rm(file, { force: true });
    else await writeFile(file, merged);
  } catch (error) {
    throw new PmPluginError("headers_failed", `@indiepm/eleventy-plugin: could not update ${file}: ${(error as Error).message}`, { cause: error });
  }
}

function indiepmPlugin(eleventyConfig: EleventyConfig, options: IndiepmPluginOptions): void {
  if (typeof (eleventyConfig as Partial<EleventyConfig> | undefined)?.addTransform !== "function") {
    throw new PmPluginError(
      "invalid_config",
      "@indiepm/eleventy-plugin: it appears the plugin was called directly; add it with eleventyConfig.addPlugin(indiepm, { endpoint }) instead.",
    );
  }
  eleventyConfig.versionCheck(pkg["11ty"].compatibility);
  const resolved = resolveOptions(options);
  const { endpoint, pages: scope, replace } = resolved;
  const outputDir = () => eleventyConfig.directories?.output ?? "_site";
  const records = new Map<string, PageRecord>();
  const injectPmLink = pmLinkInjector(endpoint, { replace });
  const linkElement = pmLinkElement(endpoint);

  addTemplateNames(eleventyConfig, resolved, { linkElement, endpoint });

  // Synchronous on purpose: Eleventy's benchmark times a transform up to its return.
  eleventyConfig.addTransform(TRANSFORM_NAME, function (this: TransformContext, content: unknown): unknown {
    const outputPath = this.page?.outputPath;
    // An empty output stays empty: there is no page to name the endpoint in.
    if (typeof content !== "string" || !isHtmlOutput(outputPath) || !/\S/.test(content)) return content;
    const url = this.page?.url;
    // Fragments (the feed plugin's `renderTransforms` passes each post's content with the
    // post's own page) are left byte for byte and not recorded: the page's own record stays.
    if (!inScope(scope, { outputPath, url }, outputDir())) {
      if (resolved.headers && typeof url === "string" && isWholeDocument(content)) {
        const first = findPmLinks(content)[0];
        records.set(outputPath, { url, namesEndpoint: first !== undefined && namesEndpoint(first.href, endpoint) });
      }
      return content;
    }
    const result = injectPmLink(content);
    if (result.outcome === "fragment") return content;
    if (resolved.headers && typeof url === "string") records.set(outputPath, { url, namesEndpoint: result.outcome !== "other" });
    return result.html;
  });

  if (resolved.headers) {
    eleventyConfig.on("eleventy.before", (event) => {
      // An incremental build transforms only what changed; keep what the others said.
      if (!event.incremental) records.clear();
    });
    eleventyConfig.on("eleventy.after", async (event) => {
      if (event.outputMode !== undefined && event.outputMode !== "fs") return; // toJSON(), toNDJSON(): nothing is written
      await writeHeadersFile(event.directories?.output ?? outputDir(), headerPaths(records.values(), scope), resolved);
    });
  }
}

/** The plugin: `eleventyConfig.addPlugin(indiepm, { endpoint })`. */
const indiepm = indiepmPlugin as IndiepmPlugin;
Object.defineProperty(indiepm, "eleventyPackage", { value: pkg.name });
Object.defineProperty(indiepm, "eleventyPluginOptions", { value: Object.freeze({ unique: true }) });

export { indiepm };
export default indiepm;
