/**
 * The one error type of this package. Each refusal names what went wrong and, where
 * there is one, the fix; `code` lets a caller (the CLI) decide what else to show.
 */

export const GHOST_ERROR_CODES = [
  "invalid_option", // an option is missing or wrong (checked before any request)
  "invalid_code_injection", // the owner's code injection swallows what is appended (an unclosed <script> or comment)
  "invalid_key", // the key is not `{id}:{secret}` as Ghost shows it
  "integration_key", // Ghost lets a custom integration's Admin API key only read settings (501)
  "unauthorized", // 401: Ghost does not know the key, or the signed token was refused
  "forbidden", // 403: the staff user's role may not edit settings
  "not_ghost", // the admin API answered something that is not Ghost's JSON
  "redirected", // the admin API lives at another address (Ghost's admin URL)
  "ghost_error", // any other answer Ghost gave
  "network_error", // no answer: refused, reset, DNS, timeout
  "not_live", // Ghost took the change but the home page does not show it
] as const;

export type GhostErrorCode = (typeof GHOST_ERROR_CODES)[number];

export class GhostError extends Error {
  override name = "GhostError";
  /** The HTTP status Ghost answered with, where there was one. */
  readonly status: number | undefined;
  constructor(
    readonly code: GhostErrorCode,
    message: string,
    options?: { cause?: unknown; status?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.status = options?.status;
  }
}
