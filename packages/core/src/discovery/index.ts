/** PROTOCOL.md §1 Discovery. */
export { discoverEndpoint, endpointFromResponse, DISCOVERY_LIMITS, type Discovery, type DiscoveryLimits } from "./discover.js";
export {
  createPmLinkFinder,
  findPmLinkInHtml,
  findPmLink,
  parseLinkHeader,
  relHasPm,
  type LinkValue,
  type PmLinkFinder,
  type PmLinkFinderOptions,
  type PmLinkMatch,
} from "@indiepm/protocol";
export { identityRedirectRefusal } from "./identity.js";
