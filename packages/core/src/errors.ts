/**
 * The §2 error codes and the one error type (`PmError`) the engine throws, defined once
 * in `@indiepm/protocol` (errors.ts): a refusal of the protocol's rules and one of the
 * engine are the same type, so the edges answer both alike.
 */
export { ERROR_STATUS, errorResponse, isProtocolErrorCode, jsonResponse, LOCAL_ERROR_CODES, PmError } from "@indiepm/protocol";
export type { ErrorBody, ErrorCode, LocalErrorCode, PmErrorOptions, ProtocolErrorCode } from "@indiepm/protocol";
