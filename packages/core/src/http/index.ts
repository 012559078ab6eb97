/** Outbound HTTP (PROTOCOL.md §1 limits, §6 "Outgoing requests"). */
export * from "./types.js";
export { canonicalIp, isRefusedAddress, parseIpv4Literal } from "./addresses.js";
export {
  createHttpClient,
  DEFAULT_HTTP_LIMITS,
  DEFAULT_USER_AGENT,
  GET_ACCEPT,
  type ClosableHttpClient,
  type HttpClientOptions,
  type Lookup,
  type ResolvedAddress,
} from "./client.js";
