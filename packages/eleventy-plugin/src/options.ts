/**
 * The plugin's options, checked once when Eleventy runs the plugin (STYLE.md practice 5):
 * a wrong option stops the build before any page is written, with one sentence that
 * names the option and, where it can, the fix.
 */
import { canonicalUrl, describeValue, isIpHost, isLocalhostName, isPlainObject, refusalOf, unknownOptionSentence } from "@indiepm/protocol";
import { PmPluginError } from "./errors.js";
import { globToRegExp } from "./glob.js";

export interface IndiepmPluginOptions {
  /** The absolute URL of your pm endpoint (PROTOCOL.md §1), e.g. `"https://pm.alice.example.uk/"`. */
  endpoint: string;
  /**
   * Development only: accept an `http:` endpoint on a host that is not loopback, or an
   * IP-address host. Production pm servers refuse both (PROTOCOL.md "URLs"). Default `false`.
   */
  allowHttp?: boolean;
  /**
   * Which HTML outputs get the link: `"all"` (default), `"home"` (the page whose URL is
   * `/`), `"none"` (use the `pmLink` shortcode or `headers` only), or one or more globs of
   * output paths relative to the output folder (`"index.html"`, `"blog/**\/*.html"`).
   */
  pages?: "all" | "home" | "none" | string | readonly string[];
  /** Rewrite the `href` of rel=pm links a page already has to `endpoint`, instead of leaving the page alone. Default `false`. */
  replace?: boolean;
  /** Also write `Link: <endpoint>; rel="pm"` rules into `_headers` in the output folder (Netlify, Cloudflare Pages). Default `false`. */
  headers?: boolean;
  /**
   * Global data with the endpoint URL, for templates that write it themselves: `true`
   * gives `{{ pmEndpoint }}`, a string names the key. Default `false`: the plugin adds
   * nothing to the site's data. A key the site already defines (a `_data` file or folder,
   * `addGlobalData`, a Nunjucks global) or one Eleventy uses is refused.
   */
  globalData?: boolean | string;
  /**
   * A shortcode that writes the `<link rel="pm">`, for pages that place it by hand:
   * `true` gives `{% pmLink %}` (`this.pmLink()` in JavaScript templates), a string names
   * it. Default `false`: the plugin adds nothing to the site's template namespace. A name
   * the site (or another plugin) already uses for a shortcode, tag or JavaScript-template
   * function, or a built-in Nunjucks or Liquid tag, is refused.
   */
  shortcode?: boolean | string;
}

export type PageScope = { kind: "all" } | { kind: "home" } | { kind: "none" } | { kind: "globs"; patterns: readonly string[]; regexps: readonly RegExp[] };

export interface ResolvedOptions {
  /** The endpoint in canonical form (`new URL(endpoint).href`, PROTOCOL.md "URLs"). */
  endpoint: string;
  pages: PageScope;
  replace: boolean;
  headers: boolean;
  /** The global data key, or `undefined` for none. */
  globalData: string | undefined;
  /** The shortcode's name, or `undefined` for none. */
  shortcode: string | undefined;
}

const PLUGIN = "@indiepm/eleventy-plugin";
const KNOWN = ["endpoint", "allowHttp", "pages", "replace", "headers", "globalData", "shortcode"] as const;
/** The names `true` asks for. */
export const DEFAULT_SHORTCODE = "pmLink";
export const DEFAULT_GLOBAL_DATA = "pmEndpoint";

/** A name a template can use as it is: `{{ name }}`, `{% name %}`, `this.name`, `data.name`. */
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/**
 * Data keys Eleventy itself gives meaning to (its supplied data and the data cascade's
 * special keys); every key starting `eleventy` is refused too.
 */
const ELEVENTY_DATA_KEYS = new Set([
  "pkg",
  "page",
  "content",
  "collections",
  "permalink",
  "layout",
  "pagination",
  "tags",
  "date",
  "templateEngineOverride",
  "dynamicPermalink",
  "permalinkBypassOutputDir",
]);
/** Nunjucks' and LiquidJS's own tags: a shortcode of that name would shadow or break them. */
const BUILT_IN_TAGS = new Set([
  // Nunjucks
  "if",
  "elif",
  "elseif",
  "else",
  "endif",
  "for",
  "endfor",
  "asyncEach",
  "asyncAll",
  "macro",
  "call",
  "set",
  "extends",
  "block",
  "include",
  "import",
  "from",
  "raw",
  "verbatim",
  "filter",
  "switch",
  "case",
  "default",
  // LiquidJS
  "assign",
  "capture",
  "case",
  "when",
  "comment",
  "cycle",
  "decrement",
  "increment",
  "echo",
  "liquid",
  "layout",
  "render",
  "tablerow",
  "unless",
  "break",
  "continue",
  "elsif",
  "inline",
]);
const EXAMPLE = `{ endpoint: "https://pm.example.com/" }`;

function configError(sentence: string): PmPluginError {
  return new PmPluginError("invalid_config", `${PLUGIN}: ${sentence}`);
}

/** Hosts that are this machine: `localhost` names (RFC 6761), 127.0.0.0/8, `::1`, and IPv4-mapped 127.x. */
export function isLoopbackHost(hostname: string): boolean {
  if (isLocalhostName(hostname)) return true;
  const host = hostname.toLowerCase();
  // URL serialization has already turned 0x7f.1, 2130706433 and the like into dotted decimal.
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)) return true;
  return host === "[::1]" || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(host);
}

function checkEndpoint(value: unknown, allowHttp: boolean): string {
  if (value === undefined || value === "") {
    throw configError(`option \`endpoint\` is required: the absolute URL of your pm endpoint, as in addPlugin(indiepm, ${EXAMPLE}).`);
  }
  if (typeof value !== "string" || !URL.canParse(value)) {
    throw configError(`option \`endpoint\` must be an absolute http(s) URL such as "https://pm.example.com/", got ${describeValue(value)}.`);
  }
  const url = new URL(value);
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw configError(`option \`endpoint\` must be an absolute http(s) URL such as "https://pm.example.com/", got ${describeValue(value)}.`);
  }
  const refusal = refusalOf(url, { dev: true }); // user name or password
  if (refusal) throw configError(`option \`endpoint\` is refused: ${refusal}, got ${describeValue(value)}.`);
  if (url.hash || value.includes("#")) throw configError(`option \`endpoint\` must not have a fragment, got ${describeValue(value)}.`);
  if (!allowHttp && !isLoopbackHost(url.hostname)) {
    if (url.protocol === "http:") {
      throw configError(
        `option \`endpoint\` is http on ${url.hostname}, which is not loopback, and pm servers refuse http endpoints in production; use https, or set \`allowHttp: true\` while developing.`,
      );
    }
    if (isIpHost(url.hostname)) {
      throw configError(
        `option \`endpoint\` names the IP address ${url.hostname}, and pm servers accept only domain names in production; use a domain name, or set \`allowHttp: true\` while developing.`,
      );
    }
  }
  return canonicalUrl(url);
}

function checkBoolean(options: Record<string, unknown>, key: string): boolean {
  const value = options[key];
  if (value === undefined) return false;
  if (typeof value !== "boolean") throw configError(`option \`${key}\` must be true or false, got ${describeValue(value)}.`);
  return value;
}

function checkPages(value: unknown): PageScope {
  if (value === undefined || value === "all") return { kind: "all" };
  if (value === "home") return { kind: "home" };
  if (value === "none") return { kind: "none" };
  const patterns = typeof value === "string" ? [value] : Array.isArray(value) ? (value as unknown[]) : undefined;
  if (!patterns || patterns.length === 0 || patterns.some((p) => typeof p !== "string" || p.trim() === "")) {
    throw configError(
      `option \`pages\` must be "all", "home", "none", or one or more globs of output paths such as "blog/**/*.html", got ${describeValue(value)}.`,
    );
  }
  const strings = patterns as string[];
  return { kind: "globs", patterns: strings, regexps: strings.map(globToRegExp) };
}

function checkGlobalData(value: unknown): string | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return DEFAULT_GLOBAL_DATA;
  if (typeof value !== "string" || !IDENTIFIER.test(value)) {
    throw configError(
      `option \`globalData\` must be true (for "pmEndpoint"), false, or a global data key such as "pmEndpoint" (letters, digits, _ and $), got ${describeValue(value)}.`,
    );
  }
  if (ELEVENTY_DATA_KEYS.has(value) || /^eleventy/i.test(value)) {
    throw configError(`option \`globalData\` is ${describeValue(value)}, a data key Eleventy uses; choose another name such as "pmEndpoint".`);
  }
  return value;
}

function checkShortcode(value: unknown): string | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return DEFAULT_SHORTCODE;
  if (typeof value !== "string" || !IDENTIFIER.test(value)) {
    throw configError(
      `option \`shortcode\` must be true (for "pmLink"), false, or a shortcode name such as "pmLink" (letters, digits, _ and $), got ${describeValue(value)}.`,
    );
  }
  if (BUILT_IN_TAGS.has(value)) {
    throw configError(`option \`shortcode\` is ${describeValue(value)}, a built-in Nunjucks or Liquid tag; choose another name such as "pmLink".`);
  }
  return value;
}

/**
 * Checks what was passed to `addPlugin(indiepm, options)` and returns the options with
 * their defaults.
 * @throws PmPluginError `invalid_config`, one sentence naming the option.
 */
export function resolveOptions(raw: unknown): ResolvedOptions {
  if (!isPlainObject(raw)) {
    throw configError(`options must be an object such as ${EXAMPLE}, got ${describeValue(raw)}.`);
  }
  const unknown = unknownOptionSentence(raw, KNOWN);
  if (unknown) throw configError(unknown);
  const allowHttp = checkBoolean(raw, "allowHttp");
  return {
    endpoint: checkEndpoint(raw.endpoint, allowHttp),
    pages: checkPages(raw.pages),
    replace: checkBoolean(raw, "replace"),
    headers: checkBoolean(raw, "headers"),
    globalData: checkGlobalData(raw.globalData),
    shortcode: checkShortcode(raw.shortcode),
  };
}
