/**
 * The bridge both routers share: an Express request becomes a web-standard `Request`
 * (its body read raw under a limit, or rebuilt when a body parser got there first),
 * the handler answers, the `Response` is written back. Failures that are not §2 answers
 * are logged; an answer that cannot be sent goes to `next(err)`.
 */
import type { NextFunction, Request as ExpressRequest, RequestHandler, Response as ExpressResponse } from "express";
import { PmError, errorResponse, isProtocolErrorCode, type Logger } from "@indiepm/core";
import { TRUST_PROXY_OFF, clientAddressOf, clientAddressResolver, sendWebResponse, toWebRequest, type TrustProxy } from "@indiepm/core/node";
import { IndiePmExpressError, expressErrorResponse } from "./errors.js";
import { bodyAlreadyRead, rebuildBody } from "./parsed-body.js";

export type Log = (message: string, data?: Record<string, unknown>) => void;

export function errorLogger(logger: Logger | undefined): Log {
  return logger ? logger.error.bind(logger) : (message, data) => console.error(message, data);
}

export function warningLogger(logger: Logger | undefined): Log {
  return logger ? logger.warn.bind(logger) : (message) => console.warn(`indiepm: ${message}`);
}

/**
 * Who the client is (`RequestContext.clientAddress`, counted by the §6 rate limits).
 * One rule per request, never two: when the host app set Express's `trust proxy`, Express
 * decides (`req.ip`) and the engine's `trustProxy` is not applied on top (warned once if
 * both are set); otherwise the engine's rule (core http/trust-proxy.ts) reads
 * `X-Forwarded-For`. An app `trust proxy` of `true` lets any client pick its address, so
 * it is not followed: the connection's address counts, and that is logged once.
 */
export function clientAddressRule(trust: TrustProxy, warn: Log): (req: ExpressRequest) => string | undefined {
  const engineRule = clientAddressResolver(trust, (message) => warn(message), "indiepm's `trustProxy` option (or the app's Express `trust proxy` setting)");
  let warnedPermissive = false;
  let warnedBoth = false;
  return (req) => {
    const appSetting: unknown = typeof req.app?.get === "function" ? req.app.get("trust proxy") : undefined;
    if (appSetting === undefined || appSetting === false || appSetting === 0) return engineRule(req.socket.remoteAddress, req.headers["x-forwarded-for"]);
    if (appSetting === true) {
      if (!warnedPermissive) {
        warnedPermissive = true;
        warn(
          "The app's Express `trust proxy` setting is true, which lets any client choose its address for the rate limits with X-Forwarded-For; indiepm counts the connection's address instead until it is a number of proxy hops (1) or the proxy's addresses (loopback).",
        );
      }
      return clientAddressOf(req.socket.remoteAddress, undefined, TRUST_PROXY_OFF);
    }
    if (trust.kind !== "off" && !warnedBoth) {
      warnedBoth = true;
      warn(
        `indiepm's \`trustProxy\` option (${trust.description}) is not applied: the app's Express \`trust proxy\` setting decides the client address (req.ip); set only one of them.`,
      );
    }
    return clientAddressOf(req.ip, undefined, TRUST_PROXY_OFF);
  };
}

export function describeFailure(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}

/** The origin the client used, when the Host header makes one. */
function originOf(req: ExpressRequest): string | undefined {
  const host = req.get("host");
  const candidate = `${req.protocol}://${host ?? ""}`;
  return host && URL.canParse(candidate) && new URL(candidate).host === host.toLowerCase() ? candidate : undefined;
}

export interface BridgeOptions {
  maxBodyBytes: number;
  log: Log;
  /** Settles `true` once the handler may answer; `false`: answer 503. */
  started: Promise<boolean>;
  /** Origin of request URLs instead of the Host header's (the inbox's configured URL). */
  baseUrl?: string;
  /** The engine's `trustProxy` (`PmServer.trustProxy`); see `clientAddressRule`. */
  trustProxy: TrustProxy;
  /** Where the once-only warnings go. */
  warn: Log;
  /** The factory, as the warning about the app's body parsers names it: `indiepm()`, `indiepmInbox()`. */
  factory: string;
  /**
   * What that warning says the router's requests may carry, after "though" (default: the
   * federation endpoint's, "PROTOCOL.md §2 allows bodies of up to 256 KiB").
   */
  allowedBodies?: string;
}

/**
 * Issue 9 item 15: the host app's body parser runs before this router. What it leaves is
 * rebuilt (parsed-body.ts), but a request over the parser's own limit (100 kB by default
 * for `express.urlencoded()`/`express.json()`, under the 256 KiB PROTOCOL.md §2 allows)
 * never gets here: the parser answers it with an HTML 413. Only a warning can reach the
 * owner, so it is logged at the first request that shows a parser ran first.
 */
function parserFirstWarning(factory: string, mountPath: string, maxBodyBytes: number, allowedBodies = "PROTOCOL.md §2 allows bodies of up to 256 KiB"): string {
  return (
    `A body parser of the app (express.urlencoded(), express.json() or the like) runs before ${factory} on requests to ${mountPath}: ` +
    `a request it reads that is over its own limit (100 kB by default) gets its HTML 413 and never reaches ${factory}, though ${allowedBodies} (this router reads up to ${maxBodyBytes} bytes). ` +
    `Mount ${factory} before the body parser (app.use("${mountPath}", ${factory.replace("()", "({ … })")}) above app.use(express.urlencoded())), or apply the parser to your own routes only.`
  );
}

/**
 * A body parser saw this request before us: body-parser (Express's own) gives every
 * request it sees an own `body` property, even one it does not read (`req.body =
 * undefined`); body-parser 1 also marks `req._body`; any other reader leaves the stream
 * consumed. Express itself sets no `body`.
 */
function parserRanFirst(req: ExpressRequest): boolean {
  return Object.hasOwn(req, "body") || (req as ExpressRequest & { _body?: unknown })._body === true || bodyAlreadyRead(req);
}

export function webHandler(
  handle: (request: Request, context: { path: string; clientAddress?: string }) => Promise<Response>,
  options: BridgeOptions,
): RequestHandler {
  const clientAddressOfRequest = clientAddressRule(options.trustProxy, options.warn);
  let warnedParserFirst = false;
  const run = async (req: ExpressRequest, res: ExpressResponse, next: NextFunction): Promise<void> => {
    let response: Response;
    try {
      if (!(await options.started)) {
        throw new IndiePmExpressError("temporarily_unavailable", "This pm endpoint failed to start; its owner can see why in the server log.");
      }
      if (!warnedParserFirst && parserRanFirst(req)) {
        warnedParserFirst = true;
        options.warn(parserFirstWarning(options.factory, req.baseUrl || "/", options.maxBodyBytes, options.allowedBodies));
      }
      const body = bodyAlreadyRead(req) ? rebuildBody(req) : undefined;
      const origin = options.baseUrl ?? originOf(req);
      const request = await toWebRequest(req, {
        maxBodyBytes: options.maxBodyBytes,
        target: req.originalUrl,
        ...(origin === undefined ? {} : { baseUrl: origin }),
        ...(body === undefined ? {} : { body }),
      });
      const clientAddress = clientAddressOfRequest(req);
      response = await handle(request, { path: req.path, ...(clientAddress === undefined ? {} : { clientAddress }) });
    } catch (error) {
      // The engine's PmErrors with a protocol code, and this package's request-time errors,
      // are answers (413, 400, 503…); anything else is a failure to log.
      const answer = error instanceof IndiePmExpressError && error.code !== "invalid_config";
      if (!answer && !(error instanceof PmError && isProtocolErrorCode(error.code))) {
        options.log("indiepm: request failed", { method: req.method, url: req.originalUrl, error: describeFailure(error) });
      }
      if (res.headersSent || res.destroyed) return;
      response = answer ? expressErrorResponse(error as IndiePmExpressError) : errorResponse(error);
      // Do not read a huge upload to its end just to keep the connection.
      if (error instanceof PmError && error.code === "too_large") response.headers.set("connection", "close");
    }
    try {
      await sendWebResponse(res, response);
    } catch (error) {
      options.log("indiepm: sending the answer failed", { method: req.method, url: req.originalUrl, error: describeFailure(error) });
      if (!res.headersSent) next(error);
      else res.destroy();
    }
  };
  return (req, res, next) => {
    run(req, res, next).catch((error: unknown) => {
      if (!res.headersSent) next(error);
      else res.destroy();
    });
  };
}
