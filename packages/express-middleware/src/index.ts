/**
 * `@indiepm/express`: a rel=pm endpoint and its owner API inside an existing Express 5
 * app (`indiepm()`), the owner's web inbox at a path of their choice (`indiepmInbox()`),
 * and the Link header that makes the app's pages name the endpoint (`pmLink()`).
 */
export { indiepm, type IndiePmRouter } from "./router.js";
export { indiepmInbox, type IndiePmInboxOptions, type IndiePmInboxRouter } from "./inbox-router.js";
export type { IndiePmEngineOptions, IndiePmOptions, IndiePmServerOptions } from "./options.js";
export { pmLink, linkNamesPm, type PmLinkMiddleware, type PmLinkOptions } from "./pm-link.js";
export { IndiePmExpressError, EXPRESS_ERROR_CODES, type ExpressErrorCode } from "./errors.js";
