/**
 * The one error type of `@indiepm/express` (STYLE.md practice 4). An engine error that
 * crosses into this package (an engine option refused by `resolvePmServerOptions`) is
 * wrapped, its `PmError` kept as `cause`.
 */
import { ERROR_STATUS, jsonResponse } from "@indiepm/core";

export const EXPRESS_ERROR_CODES = [
  "invalid_config", // an option of indiepm(), indiepmInbox() or pmLink() is wrong (start-up only)
  "invalid_request", // an app's body parser read the body first into a form that cannot be read back (answered 400)
  "temporarily_unavailable", // the engine failed to start (answered 503)
] as const;
export type ExpressErrorCode = (typeof EXPRESS_ERROR_CODES)[number];

export class IndiePmExpressError extends Error {
  override name = "IndiePmExpressError";
  constructor(
    readonly code: ExpressErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The §2 answer for an error this package raised while answering a request. */
export function expressErrorResponse(error: IndiePmExpressError): Response {
  const status = error.code === "invalid_config" ? 500 : ERROR_STATUS[error.code];
  return jsonResponse({ error: error.code === "invalid_config" ? "server_error" : error.code, error_description: error.message }, status);
}
