/**
 * `createWebInbox`'s options, checked and given their defaults once, at start-up
 * (STYLE.md practice 5): a wrong option, or one nobody defined, is a
 * `WebInboxError("invalid_config")` with one sentence, and no request ever looks at the
 * raw options again.
 */
import { createHash } from "node:crypto";
import { createHttpClient, type ClosableHttpClient, type HttpClient, type Logger, type PmServer } from "@indiepm/core";
import { unknownOptionSentence } from "@indiepm/protocol";
import { WebInboxError } from "./errors.js";
import { DEFAULT_SIGN_INS_PER_MINUTE } from "./sign-in-guard.js";

export interface WebInboxOptions {
  /** The engine whose sites sign in here. */
  server: PmServer;
  /**
   * Absolute URL where the inbox is mounted, ending in `/` (`https://pm.example.net/`,
   * `https://example.com/inbox/`): its links, its cookies' path, its IndieAuth
   * `client_id` and `redirect_uri`. Cookies are `Secure` when it is https.
   */
  url: string;
  /** Outbound client for IndieAuth (default: `createHttpClient({ dev: server.dev })`, guarded as §6 says). */
  http?: HttpClient;
  /** How long a sign-in lasts, seconds (default 14 days). */
  sessionLifetimeSeconds?: number;
  /** How often an open page asks whether a message arrived, seconds (default 10). */
  pollSeconds?: number;
  /**
   * Sign-in posts a minute per client address (default 10): each makes this server fetch
   * the site named. The client address is the one `RequestContext.clientAddress` gives
   * (the server's `trustProxy` setting decides it behind a proxy).
   */
  signInsPerMinute?: number;
  logger?: Logger;
}

// Every key of WebInboxOptions: the compiler flags this table when the options change.
const OPTION_KEYS = {
  server: true,
  url: true,
  http: true,
  sessionLifetimeSeconds: true,
  pollSeconds: true,
  signInsPerMinute: true,
  logger: true,
} as const satisfies Record<keyof WebInboxOptions, true>;

/** The names `createWebInbox` takes: what a mounting package (`indiepmInbox()`) accepts, and no other. */
export const WEB_INBOX_OPTION_NAMES: readonly (keyof WebInboxOptions)[] = Object.freeze(Object.keys(OPTION_KEYS) as (keyof WebInboxOptions)[]);

/** Every default of the options, in one place. */
export const WEB_INBOX_DEFAULTS = {
  sessionLifetimeSeconds: 14 * 24 * 60 * 60,
  pollSeconds: 10,
  signInsPerMinute: DEFAULT_SIGN_INS_PER_MINUTE,
} as const;

/** The options as every part of the inbox reads them. */
export interface ResolvedInboxOptions {
  pm: PmServer;
  /** The inbox's canonical URL, ending in `/`. */
  url: URL;
  /** Its path: links and the cookies' `Path`. */
  base: string;
  /** Its origin: the only one its forms are accepted from. */
  origin: string;
  /** Cookies are `Secure` (https). */
  secure: boolean;
  /** IndieAuth `client_id` (the inbox's URL) and `redirect_uri`. */
  clientId: string;
  redirectUri: string;
  /** The engine's development switch, for the URLs a person enters. */
  policy: { dev: boolean };
  sessionLifetimeSeconds: number;
  pollSeconds: number;
  signInsPerMinute: number;
  http: HttpClient;
  /** The outbound client the inbox made itself (closed by `close()`), if `http` was not given. */
  ownHttp: ClosableHttpClient | undefined;
  logger: Logger | undefined;
  /** One inbox per origin and path: the same browser may hold sessions of several (the demo's two, on two ports). */
  cookieNames: { session: string; signin: string; pre: string };
}

function invalid(text: string): WebInboxError {
  return new WebInboxError("invalid_config", `createWebInbox: ${text}`);
}

/** Checks the options and fills in the defaults. @throws WebInboxError `invalid_config`. */
export function resolveInboxOptions(options: WebInboxOptions): ResolvedInboxOptions {
  if (!options || typeof options !== "object") throw invalid("needs an options object { server, url }.");
  // The one check of option names every indiepm package shares ("did you mean `pollSeconds`?").
  const unknown = unknownOptionSentence(options as unknown as Record<string, unknown>, WEB_INBOX_OPTION_NAMES);
  if (unknown) throw invalid(unknown);
  const pm = options.server;
  if (!pm || typeof pm.handle !== "function" || typeof pm.conversations !== "function")
    throw invalid("option `server` must be a PmServer made by createPmServer().");
  if (typeof options.url !== "string" || !URL.canParse(options.url))
    throw invalid(`option \`url\` must be the absolute URL of the inbox, got ${JSON.stringify(options.url)}.`);
  const url = new URL(options.url);
  if (url.protocol !== "https:" && url.protocol !== "http:") throw invalid("option `url` must be http(s).");
  if (!pm.dev && url.protocol !== "https:") throw invalid("option `url` must be https outside development mode (cookies are Secure).");
  if (url.search || url.hash) throw invalid("option `url` must have no query or fragment.");
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  const sessionLifetimeSeconds = options.sessionLifetimeSeconds ?? WEB_INBOX_DEFAULTS.sessionLifetimeSeconds;
  if (typeof sessionLifetimeSeconds !== "number" || !(sessionLifetimeSeconds >= 60)) throw invalid("option `sessionLifetimeSeconds` must be 60 or more.");
  const pollSeconds = options.pollSeconds ?? WEB_INBOX_DEFAULTS.pollSeconds;
  if (typeof pollSeconds !== "number" || !(pollSeconds >= 1)) throw invalid("option `pollSeconds` must be 1 or more.");
  const signInsPerMinute = options.signInsPerMinute ?? WEB_INBOX_DEFAULTS.signInsPerMinute;
  if (typeof signInsPerMinute !== "number" || !Number.isInteger(signInsPerMinute) || signInsPerMinute < 1)
    throw invalid("option `signInsPerMinute` must be a whole number, 1 or more.");
  const ownHttp = options.http ? undefined : createHttpClient({ dev: pm.dev });
  const suffix = createHash("sha256").update(url.href).digest("hex").slice(0, 8);
  return {
    pm,
    url,
    base: url.pathname,
    origin: url.origin,
    secure: url.protocol === "https:",
    clientId: url.href,
    redirectUri: new URL("auth/callback", url).href,
    policy: { dev: pm.dev },
    sessionLifetimeSeconds,
    pollSeconds,
    signInsPerMinute,
    http: options.http ?? ownHttp!,
    ownHttp,
    logger: options.logger,
    cookieNames: { session: `indiepm_session_${suffix}`, signin: `indiepm_signin_${suffix}`, pre: `indiepm_pre_${suffix}` },
  };
}
