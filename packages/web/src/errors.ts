/** The one error type of `@indiepm/web`: a code and one sentence a person can act on. */

export const WEB_ERROR_CODES = [
  "invalid_config", // an option of createWebInbox is wrong (start-up only)
  "invalid_profile_url", // what was entered in the sign-in form is not a site URL
  "unknown_site", // this server holds no inbox for that site
  "no_authorization_endpoint", // the site advertises no IndieAuth authorization endpoint
  "discovery_failed", // the site or its IndieAuth metadata could not be fetched or read
  "invalid_state", // the sign-in came back without, or with an unknown, expired or foreign state
  "access_denied", // the authorization endpoint said no
  "invalid_issuer", // `iss` is not the issuer the metadata named (IndieAuth §5.2.1)
  "redeem_failed", // the authorization endpoint did not give a `me` for the code
  "me_mismatch", // the `me` returned is not the site entered, nor on its host naming the authorization endpoint used (IndieAuth §5.4)
  // The owner's forms (shown on the page the form came from, with a 400):
  "no_recipients", // the compose form names no site to write to
  "empty_message", // the compose form has no text
  "invalid_policy", // "Who may write to you" is none of anyone, contacts, nobody
  "unknown_token", // the token to revoke is not one of this site's
  "not_confirmed", // "Delete everything" was posted without its confirmation box
] as const;
export type WebErrorCode = (typeof WEB_ERROR_CODES)[number];

export class WebInboxError extends Error {
  override name = "WebInboxError";
  constructor(
    readonly code: WebErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
