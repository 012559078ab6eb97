/** PROTOCOL.md §1 Discovery. */
export { discoverEndpoint, endpointFromResponse, DISCOVERY_LIMITS, type Discovery, type DiscoveryLimits } from "./discover.js";
export { createPmLinkFinder, findPmLinkInHtml, relHasPm, type PmLinkFinder, type PmLinkFinderOptions, type PmLinkMatch } from "./html.js";
export { findPmLink, parseLinkHeader, type LinkValue } from "./link-header.js";
export { identityRedirectRefusal } from "./identity.js";
