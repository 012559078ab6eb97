/**
 * PROTOCOL.md §5 (`content-html`: "the receiver sanitizes it with an allow-list before
 * it stores or shows it") and §6 "Content": DOMPurify with an allow-list of harmless
 * formatting. Nothing that runs, loads or styles survives: no scripts or event
 * handlers, no `style`/`class`/`id`, no images (a remote image is a read receipt for
 * whoever sent it), no forms or frames, and links only to `http:`, `https:` and
 * `mailto:` (a relative link means nothing in a message received from elsewhere).
 */
import createDOMPurify, { type Config, type DOMPurify, type WindowLike } from "dompurify";
import { Parser } from "htmlparser2";
import { createRequire } from "node:module";
import type { JSDOM as JSDOMClass } from "jsdom";

// jsdom takes about a second to load: it is required on first use (it is CommonJS), so
// the CLI and servers that never sanitize do not pay for it.
const require = createRequire(import.meta.url);

/** Elements kept; anything else is removed and its text kept (script-like content is dropped). */
export const ALLOWED_TAGS = [
  "p", "br", "hr", "span", "a", "em", "strong", "b", "i", "u", "s", "del", "ins", "sub", "sup", "q", "cite", "abbr",
  "blockquote", "code", "pre", "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
  "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td",
] as const;

/** Attributes kept on allowed elements: link targets, tooltips (`abbr`), table spans. */
export const ALLOWED_ATTRIBUTES = ["href", "title", "colspan", "rowspan"] as const;

/** Link schemes kept; `href`s with any other scheme, or none, are removed. */
const SAFE_LINK = /^(?:https?|mailto):/i;

/** `rel` of every kept link: no ranking credit, no `window.opener`, no Referer to the sender's links. */
export const LINK_REL = "nofollow noopener noreferrer";

const CONFIG: Config = {
  ALLOWED_TAGS: [...ALLOWED_TAGS],
  ALLOWED_ATTR: [...ALLOWED_ATTRIBUTES],
  // DOMPurify checks every attribute not listed as URI-safe against ALLOWED_URI_REGEXP.
  ADD_URI_SAFE_ATTR: ["colspan", "rowspan"],
  ALLOWED_URI_REGEXP: SAFE_LINK,
  ALLOW_DATA_ATTR: false,
  ALLOW_ARIA_ATTR: false,
  ALLOW_UNKNOWN_PROTOCOLS: false,
  ALLOW_SELF_CLOSE_IN_ATTR: false,
  FORBID_ATTR: ["style", "class", "id"],
};

// One jsdom window for the process, made on first use: creating a window costs
// milliseconds and megabytes, and DOMPurify leaves nothing behind in it between calls.
let purifier: DOMPurify | undefined;

function getPurifier(): DOMPurify {
  if (purifier) return purifier;
  const { JSDOM } = require("jsdom") as { JSDOM: typeof JSDOMClass };
  const { window } = new JSDOM("");
  const instance = createDOMPurify(window as unknown as WindowLike);
  instance.addHook("afterSanitizeAttributes", (node) => {
    if (node.nodeName === "A" && (node as Element).hasAttribute("href")) {
      (node as Element).setAttribute("rel", LINK_REL);
    }
  });
  purifier = instance;
  return instance;
}

/**
 * PROTOCOL.md §5 `content-html`, §6 "Content": the HTML of a received message with
 * only the allow-listed formatting left (`ALLOWED_TAGS`, `ALLOWED_ATTRIBUTES`, links to
 * http(s)/mailto carrying `rel="nofollow noopener noreferrer"`). Safe to store and to
 * insert into a page as HTML. HTML over `HTML_LIMITS` becomes its text, escaped.
 */
export function sanitizeHtml(html: string): string {
  const text = String(html);
  const shape = measureHtml(text);
  if (shape.elements > HTML_LIMITS.maxElements || shape.depth > HTML_LIMITS.maxDepth) return shape.escapedText;
  return getPurifier().sanitize(text, CONFIG);
}

/**
 * The most elements, and the deepest nesting, that `sanitizeHtml` hands to DOMPurify.
 * DOMPurify on jsdom takes time that grows with the square of the elements it unwraps
 * and of the nesting depth: 10,000 `<div>x</div>` (120 KB, well within a `deliver`)
 * kept a server busy for more than a minute. HTML beyond these limits — far beyond a
 * personal message's — is reduced to its text, escaped: linear in its size, and safe.
 */
export const HTML_LIMITS = { maxElements: 500, maxDepth: 64 } as const;

/** Elements whose text is not shown (DOMPurify drops their content too). */
const HIDDEN_CONTENT = new Set(["script", "style", "template", "noscript", "iframe", "noembed", "noframes", "xmp", "plaintext", "title", "textarea", "select", "svg", "math", "head", "audio", "video", "object"]);

/** One linear pass (htmlparser2's tokenizer, no DOM): how many elements, how deep, and the visible text escaped. */
function measureHtml(html: string): { elements: number; depth: number; escapedText: string } {
  let elements = 0;
  let depth = 0;
  let deepest = 0;
  let hidden = 0;
  const text: string[] = [];
  const parser = new Parser({
    onopentag(name) {
      elements++;
      deepest = Math.max(deepest, ++depth);
      if (HIDDEN_CONTENT.has(name)) hidden++;
    },
    onclosetag(name) {
      depth = Math.max(0, depth - 1);
      if (HIDDEN_CONTENT.has(name)) hidden = Math.max(0, hidden - 1);
    },
    ontext(data) {
      if (hidden === 0) text.push(data);
    },
  });
  parser.end(html);
  return { elements, depth: deepest, escapedText: text.join("").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`) };
}
