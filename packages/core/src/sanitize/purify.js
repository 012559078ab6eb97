// @ts-check
/**
 * PROTOCOL.md §5 (`content-html`: "the receiver sanitizes it with an allow-list before
 * it stores or shows it") and §6 "Content": DOMPurify with an allow-list of harmless
 * formatting. Nothing that runs, loads or styles survives: no scripts or event
 * handlers, no `style`/`class`/`id`, no images (a remote image is a read receipt for
 * whoever sent it), no forms or frames, and links only to `http:`, `https:` and
 * `mailto:` (a relative link means nothing in a message received from elsewhere).
 *
 * Plain JavaScript (checked by tsc through JSDoc) because it is also the body of the
 * sanitizer's worker (./worker.js), and Node 20 cannot load TypeScript in a worker.
 */
import createDOMPurify from "dompurify";
import { Parser } from "htmlparser2";
import { createRequire } from "node:module";

// jsdom takes about a second to load: it is required on first use (it is CommonJS), so
// the CLI and servers that never sanitize do not pay for it.
const require = createRequire(import.meta.url);

/** Elements kept; anything else is removed and its text kept (script-like content is dropped). */
export const ALLOWED_TAGS = /** @type {const} */ ([
  "p",
  "br",
  "hr",
  "span",
  "a",
  "em",
  "strong",
  "b",
  "i",
  "u",
  "s",
  "del",
  "ins",
  "sub",
  "sup",
  "q",
  "cite",
  "abbr",
  "blockquote",
  "code",
  "pre",
  "ul",
  "ol",
  "li",
  "h1",
  "h2",
  "h3",
  "h4",
  "h5",
  "h6",
  "table",
  "caption",
  "thead",
  "tbody",
  "tfoot",
  "tr",
  "th",
  "td",
]);

/** Attributes kept on allowed elements: link targets, tooltips (`abbr`), table spans. */
export const ALLOWED_ATTRIBUTES = /** @type {const} */ (["href", "title", "colspan", "rowspan"]);

/** Link schemes kept; `href`s with any other scheme, or none, are removed. */
const SAFE_LINK = /^(?:https?|mailto):/i;

/** `rel` of every kept link: no ranking credit, no `window.opener`, no Referer to the sender's links. */
export const LINK_REL = "nofollow noopener noreferrer";

/**
 * What `sanitizeHtml` hands to DOMPurify, and what it may store. DOMPurify on jsdom takes
 * time that grows with the square of the nodes it removes or unwraps, of the attributes
 * on one element, and of the nesting depth; jsdom's own parse is quadratic in depth and
 * attributes; and the HTML parser re-opens unclosed formatting elements in every new
 * paragraph (60 `<b title=…>` then 430 `<p>x`: 2.6 KB in, 26,000 elements out). So the
 * limits are counted on the tree jsdom built — the one DOMPurify walks — and on the
 * serialized output. HTML beyond them, far beyond a personal message's, is stored as
 * its text, escaped (see `escapeHtmlText`).
 */
export const HTML_LIMITS = /** @type {const} */ ({
  /** `content-html` longer than this (UTF-8) is not parsed at all. */
  maxInputBytes: 128 * 1024,
  /** Elements and comments in the parsed body. */
  maxNodes: 500,
  /** Attributes on those elements, in all. */
  maxAttributes: 1_000,
  /** Nesting of elements in the parsed body. */
  maxDepth: 64,
  /** Stored HTML: at most this many bytes… */
  maxOutputBytes: 256 * 1024,
  /** …and at most this multiple of the input, plus 1 KiB (a short link gains a 40-byte `rel`). */
  maxOutputRatio: 4,
});

/**
 * The most bytes stored for `inputBytes` bytes of `content-html`.
 * @param {number} inputBytes
 */
export function outputLimit(inputBytes) {
  return Math.min(HTML_LIMITS.maxOutputBytes, HTML_LIMITS.maxOutputRatio * inputBytes + 1024);
}

const CONFIG = {
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

/**
 * @typedef {object} Toolkit
 * @property {any} window a jsdom window (its `DOMParser` is the one DOMPurify parses with)
 * @property {import("dompurify").DOMPurify} purifier
 * @property {{ parse: Function, defaultTreeAdapter: Record<string, Function> }} parse5 the parse5 jsdom itself uses
 */

// One jsdom window per thread, made on first use: creating a window costs milliseconds
// and megabytes, and DOMPurify leaves nothing behind in it between calls.
/** @type {Toolkit | undefined} */
let toolkit;

/** @returns {Toolkit} */
function getToolkit() {
  if (toolkit) return toolkit;
  const { JSDOM } = require("jsdom");
  // parse5 as jsdom resolves it: the very parser that builds the tree DOMPurify walks.
  const parse5 = createRequire(require.resolve("jsdom"))("parse5");
  const { window } = new JSDOM("");
  const purifier = createDOMPurify(window);
  purifier.addHook("afterSanitizeAttributes", (node) => {
    if (node.nodeName === "A" && /** @type {Element} */ (node).hasAttribute("href")) {
      /** @type {Element} */ (node).setAttribute("rel", LINK_REL);
    }
  });
  toolkit = { window, purifier, parse5 };
  return toolkit;
}

/** Loads jsdom, DOMPurify and parse5 now (a worker does it before taking work). */
export function warmUp() {
  getToolkit();
}

const utf8 = new TextEncoder();
const byteLength = (/** @type {string} */ s) => (s.length * 3 <= 1024 ? utf8.encode(s).byteLength : Buffer.byteLength(s, "utf8"));

/**
 * PROTOCOL.md §5 `content-html`, §6 "Content": the HTML of a received message with
 * only the allow-listed formatting left (`ALLOWED_TAGS`, `ALLOWED_ATTRIBUTES`, links to
 * http(s)/mailto carrying `rel="nofollow noopener noreferrer"`). Safe to store and to
 * insert into a page as HTML. HTML over `HTML_LIMITS` becomes its text, escaped.
 *
 * Synchronous and CPU-bound (up to a few hundred milliseconds within the limits): a
 * server sanitizes received HTML in a worker (./pool.ts), never on its event loop.
 * @param {string} html
 * @returns {string}
 */
export function sanitizeHtml(html) {
  const text = String(html);
  const inputBytes = byteLength(text);
  if (inputBytes > HTML_LIMITS.maxInputBytes) return textOf(text, inputBytes);
  const { window, purifier, parse5 } = getToolkit();
  if (!parsesWithin(parse5, text)) return textOf(text, inputBytes);
  // Parsed as DOMPurify parses a string (its _initDocument): DOMParser, text/html, the body.
  const doc = new window.DOMParser().parseFromString(text, "text/html");
  const body = doc.getElementsByTagName("body")[0];
  if (!body) return "";
  const shape = measureTree(body);
  if (shape.nodes > HTML_LIMITS.maxNodes || shape.attributes > HTML_LIMITS.maxAttributes || shape.depth > HTML_LIMITS.maxDepth) {
    return textOf(text, inputBytes);
  }
  // This same tree goes to DOMPurify (as a fragment: it imports it into a body of its own).
  const fragment = doc.createDocumentFragment();
  const leading = /^[\r\n\t ]+/.exec(text);
  if (leading) fragment.append(leading[0]);
  while (body.firstChild) fragment.appendChild(body.firstChild);
  const clean = String(purifier.sanitize(fragment, CONFIG));
  if (byteLength(clean) > outputLimit(inputBytes)) return textOf(text, inputBytes);
  return clean;
}

/**
 * Elements and comments, attributes and depth of the tree under `root`, in one walk that
 * stops as soon as a limit is passed (a tree far over them costs no more than one at them).
 * @param {Node} root
 */
function measureTree(root) {
  let nodes = 0;
  let attributes = 0;
  let deepest = 0;
  // Text and comments have no children: only elements are ever descended into.
  let level = 1;
  /** @type {Node | null} */
  let node = root.firstChild;
  while (node) {
    if (node.nodeType === 1) {
      nodes++;
      attributes += /** @type {Element} */ (node).attributes.length;
      deepest = Math.max(deepest, level);
    } else if (node.nodeType === 8) {
      nodes++;
    }
    if (nodes > HTML_LIMITS.maxNodes || attributes > HTML_LIMITS.maxAttributes || deepest > HTML_LIMITS.maxDepth) break;
    if (node.firstChild) {
      node = node.firstChild;
      level++;
      continue;
    }
    while (node !== root && !node.nextSibling) {
      node = /** @type {Node} */ (node.parentNode);
      level--;
    }
    if (node === root) break;
    node = node.nextSibling;
  }
  return { nodes, attributes, depth: deepest };
}

/** Thrown by the counting tree adapter to stop parse5. */
const STOP = Symbol("over the parse budget");

/**
 * A first parse with parse5's own light tree (no DOM), stopped as soon as it has made
 * twice the nodes or attributes `HTML_LIMITS` allows: jsdom then never builds a tree
 * that would take seconds (jsdom's parse is quadratic in depth and attributes). It only
 * guards the cost; what decides is `measureTree` on the tree DOMPurify is given.
 * @param {Toolkit["parse5"]} parse5
 * @param {string} html
 */
function parsesWithin(parse5, html) {
  const base = parse5.defaultTreeAdapter;
  // `html`, `head` and `body` are made for every document.
  let nodes = -3;
  let attributes = 0;
  /** @param {number} attrs */
  const count = (attrs) => {
    attributes += attrs;
    if (++nodes > 2 * HTML_LIMITS.maxNodes || attributes > 2 * HTML_LIMITS.maxAttributes) throw STOP;
  };
  const treeAdapter = {
    ...base,
    /** @param {string} tag @param {string} ns @param {unknown[]} attrs */
    createElement(tag, ns, attrs) {
      count(attrs.length);
      return base.createElement?.(tag, ns, attrs);
    },
    /** @param {string} data */
    createCommentNode(data) {
      count(0);
      return base.createCommentNode?.(data);
    },
    /** @param {unknown} element @param {unknown[]} attrs */
    adoptAttributes(element, attrs) {
      attributes += attrs.length;
      if (attributes > 2 * HTML_LIMITS.maxAttributes) throw STOP;
      return base.adoptAttributes?.(element, attrs);
    },
  };
  try {
    parse5.parse(html, { scriptingEnabled: false, treeAdapter });
    return true;
  } catch (error) {
    if (error === STOP) return false;
    throw error;
  }
}

/** Elements whose text is not shown (DOMPurify drops their content too). */
const HIDDEN_CONTENT = new Set([
  "script",
  "style",
  "template",
  "noscript",
  "iframe",
  "noembed",
  "noframes",
  "xmp",
  "plaintext",
  "title",
  "textarea",
  "select",
  "svg",
  "math",
  "head",
  "audio",
  "video",
  "object",
]);

/**
 * The visible text of `html`, escaped (htmlparser2's tokenizer, no DOM: linear in its
 * size), within `outputLimit`. Which text a different parser would show does not
 * matter here: escaped, every character is inert.
 * @param {string} html
 * @param {number} inputBytes
 */
function textOf(html, inputBytes) {
  let hidden = 0;
  /** @type {string[]} */
  const text = [];
  const parser = new Parser({
    onopentag(name) {
      if (HIDDEN_CONTENT.has(name)) hidden++;
    },
    onclosetag(name) {
      if (HIDDEN_CONTENT.has(name)) hidden = Math.max(0, hidden - 1);
    },
    ontext(data) {
      if (hidden === 0) text.push(data);
    },
  });
  parser.end(html);
  return escapeHtmlText(text.join(""), outputLimit(inputBytes));
}

/** @type {Record<string, string>} */
const ENTITY = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/**
 * `text` as inert HTML, cut (with "…") to at most `maxBytes` of UTF-8: never inside a
 * character reference or a surrogate pair. Linear in the length of `text`.
 * @param {string} text
 * @param {number} [maxBytes]
 */
export function escapeHtmlText(text, maxBytes = HTML_LIMITS.maxOutputBytes) {
  const escaped = String(text).replace(/[&<>"']/g, (c) => ENTITY[c] ?? c);
  if (byteLength(escaped) <= maxBytes) return escaped;
  const room = maxBytes - 3; // "…" is 3 bytes
  let cut = 0;
  let bytes = 0;
  for (const char of escaped) {
    const code = char.codePointAt(0) ?? 0;
    const size = code < 0x80 ? 1 : code < 0x800 ? 2 : code < 0x10000 ? 3 : 4;
    if (bytes + size > room) break;
    bytes += size;
    cut += char.length;
  }
  const amp = escaped.lastIndexOf("&", cut - 1);
  if (amp !== -1 && escaped.indexOf(";", amp) >= cut) cut = amp;
  return `${escaped.slice(0, cut)}…`;
}
