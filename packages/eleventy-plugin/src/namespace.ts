/**
 * Issue 9 item 13: the site's data and template namespace are its own. The plugin adds a
 * shortcode (`shortcode`) and global data (`globalData`) only when asked, and never under
 * a name the site — or another plugin — already uses: a collision stops the build with
 * one sentence, before the plugin's value could silently replace the site's (or the
 * site's replace the plugin's).
 *
 * What is checked, and when:
 * - when Eleventy runs the plugin (after the config function, so the site's own
 *   `addShortcode`/`addGlobalData` calls are in): the shortcode, tag and JavaScript-template
 *   function maps of every template language, `addGlobalData` and Nunjucks globals;
 * - before each build (`eleventy.before`): that nothing registered later replaced ours
 *   (a plugin added after this one), and, for `globalData`, that no `_data` file or folder
 *   defines the key — Eleventy merges `addGlobalData` over those files.
 */
import { readdir } from "node:fs/promises";
import { extname, join, relative, resolve } from "node:path";
import { PmPluginError } from "./errors.js";

type NameMap = Record<string, unknown>;

/** The parts of Eleventy's `UserConfig` this module reads (Eleventy 3). */
export interface NamespaceConfig {
  addShortcode(name: string, callback: () => string): void;
  addGlobalData(name: string, data: unknown): void;
  on(eventName: string, callback: (event: { directories?: { data?: string } }) => unknown): void;
  directories?: { readonly data?: string };
  globalData?: NameMap;
  dataExtensions?: ReadonlyMap<string, unknown>;
  universal?: Partial<Record<"shortcodes" | "pairedShortcodes", NameMap>>;
  nunjucks?: Partial<Record<"shortcodes" | "asyncShortcodes" | "pairedShortcodes" | "asyncPairedShortcodes" | "tags" | "globals", NameMap>>;
  liquid?: Partial<Record<"shortcodes" | "pairedShortcodes" | "tags", NameMap>>;
  /** Filters and shortcodes together: what `this.name` is in a JavaScript template. */
  javascript?: Partial<Record<"functions" | "shortcodes" | "pairedShortcodes", NameMap>>;
  /** The name as `eleventyConfig.namespace(prefix, …)` registers it. */
  getNamespacedName?(name: string): string;
}

const has = (map: NameMap | undefined, name: string): boolean => map !== undefined && Object.hasOwn(map, name);

/** Every map a shortcode named `name` would be looked up in, in any template language. */
function shortcodeMaps(config: NamespaceConfig): (NameMap | undefined)[] {
  const { universal, nunjucks, liquid, javascript } = config;
  return [
    universal?.shortcodes,
    universal?.pairedShortcodes,
    nunjucks?.shortcodes,
    nunjucks?.asyncShortcodes,
    nunjucks?.pairedShortcodes,
    nunjucks?.asyncPairedShortcodes,
    nunjucks?.tags,
    liquid?.shortcodes,
    liquid?.pairedShortcodes,
    liquid?.tags,
    javascript?.functions,
    javascript?.shortcodes,
    javascript?.pairedShortcodes,
  ];
}

/** Extensions of global data files Eleventy always reads (its `getGlobalDataExtensionPriorities`). */
const BUILT_IN_DATA_EXTENSIONS = ["json", "mjs", "cjs", "js"];

/**
 * The global data file that already defines `key` in the data folder: `_data/<key>.<ext>`,
 * or a data file anywhere under `_data/<key>/` (Eleventy makes the folder an object).
 */
async function dataFileDefining(dataDir: string, key: string, extensions: readonly string[]): Promise<string | undefined> {
  const isDataFile = (file: string): boolean => extensions.some((ext) => file.endsWith(`.${ext}`));
  let entries;
  try {
    entries = await readdir(dataDir, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw error;
  }
  for (const entry of entries) {
    if (entry.isFile() && isDataFile(entry.name) && entry.name.slice(0, -extname(entry.name).length) === key) return join(dataDir, entry.name);
    if (entry.isDirectory() && entry.name === key) {
      const inside = (await readdir(join(dataDir, entry.name), { recursive: true })).find(isDataFile);
      if (inside !== undefined) return join(dataDir, entry.name, inside);
    }
  }
  return undefined;
}

function collision(option: "shortcode" | "globalData", name: string, where: string, fix: string): PmPluginError {
  return new PmPluginError("invalid_config", `@indiepm/eleventy-plugin: option \`${option}\` is "${name}", but ${where}; ${fix}.`);
}

/**
 * Adds the shortcode and the global data the options ask for (each `undefined` for none).
 * @throws PmPluginError `invalid_config` now, or from `eleventy.before`, on a collision.
 */
export function addTemplateNames(
  config: NamespaceConfig,
  asked: { shortcode: string | undefined; globalData: string | undefined },
  values: { linkElement: string; endpoint: string },
): void {
  const namespaced = (name: string): string => config.getNamespacedName?.(name) ?? name;

  const { shortcode } = asked;
  if (shortcode !== undefined) {
    const name = namespaced(shortcode);
    const fix = "choose another name for it, or leave `shortcode` out and let the plugin place the link";
    if (shortcodeMaps(config).some((map) => has(map, name))) {
      throw collision("shortcode", shortcode, "the site already has a shortcode, tag or filter of that name", fix);
    }
    const render = (): string => values.linkElement;
    config.addShortcode(shortcode, render);
    // What Eleventy registered (it wraps the callback): a later registration replaces these.
    const ours = shortcodeMaps(config).map((map) => (has(map, name) ? map![name] : undefined));
    config.on("eleventy.before", () => {
      const now = shortcodeMaps(config).map((map) => (has(map, name) ? map![name] : undefined));
      if (now.some((entry, i) => entry !== ours[i])) {
        throw collision("shortcode", shortcode, "a shortcode, tag or filter of that name was added after the plugin (by the config or another plugin)", fix);
      }
    });
  }

  const { globalData } = asked;
  if (globalData !== undefined) {
    const key = namespaced(globalData);
    const fix = "choose another name";
    if (has(config.globalData, key) || has(config.nunjucks?.globals, key)) {
      throw collision("globalData", globalData, "the site already defines that key (addGlobalData or addNunjucksGlobal)", fix);
    }
    config.addGlobalData(globalData, values.endpoint);
    config.on("eleventy.before", async (event) => {
      if (config.globalData?.[key] !== values.endpoint || has(config.nunjucks?.globals, key)) {
        throw collision("globalData", globalData, "that key was defined again after the plugin (by the config or another plugin)", fix);
      }
      // `_data` files are found at build time, so they are looked for before each build.
      const dataDir = event.directories?.data ?? config.directories?.data;
      if (dataDir === undefined) return;
      const extensions = [...(config.dataExtensions?.keys() ?? []), ...BUILT_IN_DATA_EXTENSIONS];
      const file = await dataFileDefining(resolve(dataDir), key, extensions);
      if (file !== undefined) {
        throw collision("globalData", globalData, `the site already defines that key in ${relative(process.cwd(), file) || file}`, fix);
      }
    });
  }
}
