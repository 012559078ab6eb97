/**
 * `@indiepm/protocol/html-tokenizer`: the HTML tokenizer and parser (htmlparser2) that
 * §1's discovery reads pages with, for packages that read HTML beside these rules (the
 * Eleventy plugin's page scan, Ghost's code-injection merge). Taking it from here rather
 * than depending on htmlparser2 themselves, they read HTML exactly as discovery does, and
 * a site installs one copy of it — beside Eleventy's own, older htmlparser2, npm cannot
 * share a second direct dependency on it.
 */
export { Parser, QuoteType, Tokenizer } from "htmlparser2";
export type { Handler, ParserOptions, TokenizerCallbacks } from "htmlparser2";
