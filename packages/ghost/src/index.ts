/**
 * @indiepm/ghost — private messages (rel=pm, ../../shared/PROTOCOL.md) for a Ghost blog.
 * Ghost has no server-side plugins, so the indiepm server runs beside it and Ghost needs
 * two things: the `rel=pm` link on every page (site-wide code injection, through the
 * Admin API with a staff access token) and the endpoint reachable (a reverse-proxy
 * route, optionally with a `Link` header). Framework-free; the `indiepm ghost` command
 * is the CLI over it.
 */

// The site-wide code injection (pure)
export { findPmLinks, pmLinkTag, removePmLink, setPmLink } from "./code-injection.js";
export type { CodeInjectionAction, CodeInjectionChange, PmLinkElement } from "./code-injection.js";

// Ghost's Admin API
export { adminApiToken, createGhostAdminClient, GHOST_ACCEPT_VERSION, parseAdminKey } from "./admin-api.js";
export type { AdminKey, GhostAdminClient, GhostAdminClientOptions, GhostIdentity, GhostSettings } from "./admin-api.js";

// `indiepm ghost setup`
export { CODE_INJECTION_SETTING, IntegrationKeyError, manualStep, setupGhost } from "./setup.js";
export type { GhostSetupOptions, GhostSetupResult, ManualStep, SiteDiscovery } from "./setup.js";

// `indiepm ghost proxy` (pure)
export { DEFAULT_GHOST_UPSTREAM, DEFAULT_PM_UPSTREAM, PROXY_SERVERS, pmLinkHeaderValue, proxyLayout, proxySnippet } from "./proxy.js";
export type { ProxyLayout, ProxyOptions, ProxyServer } from "./proxy.js";

export { GHOST_ERROR_CODES, GhostError } from "./errors.js";
export type { GhostErrorCode } from "./errors.js";
