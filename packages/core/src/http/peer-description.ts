/**
 * What a federation answer may say about a failed outgoing request (PROTOCOL.md §2:
 * "no stack or internals in the answer"). The client's own messages name the addresses
 * a host resolved to (`pm.example (10.1.2.3)`), which map the server's network for
 * whoever asked; a remote party gets one fixed phrase per error code instead, and the
 * detail goes to the local log.
 */
import { PmError, type ErrorCode } from "../errors.js";

const PHRASES: Partial<Record<ErrorCode, string>> = {
  address_refused: "refused address (PROTOCOL.md §6)",
  timeout: "no answer in time",
  network_error: "network error",
  discovery_failed: "the page could not be read (a non-2xx answer or too many redirects, PROTOCOL.md §1)",
  bad_response: "the answer was not usable",
};

/** The wire-safe reason for `error`: a fixed phrase by code, never the message (no host, address or path). */
export function describeForPeer(error: unknown): string {
  const code = error instanceof PmError ? error.code : undefined;
  return (code && PHRASES[code]) ?? "it could not be fetched";
}
