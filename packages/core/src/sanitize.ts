/**
 * PROTOCOL.md §5 `content-html` and §6 "Content": received HTML is sanitized with an
 * allow-list before it is stored or shown.
 *
 * - ./sanitize/purify.js — the allow-list and `sanitizeHtml`, with `HTML_LIMITS`
 *   counted on the tree DOMPurify walks (synchronous; also the worker's body);
 * - ./sanitize/pool.ts — the worker pool a server sanitizes with, each message within
 *   a time budget, off the event loop.
 */
export { ALLOWED_ATTRIBUTES, ALLOWED_TAGS, HTML_LIMITS, LINK_REL, escapeHtmlText, outputLimit, sanitizeHtml } from "./sanitize/purify.js";
export { createSanitizerPool, DEFAULT_SANITIZER } from "./sanitize/pool.js";
export type { HtmlSanitizer, SanitizeOutcome, SanitizerPool, SanitizerPoolOptions } from "./sanitize/pool.js";
