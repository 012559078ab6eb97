/**
 * The bridge both routers share: an Express request becomes a web-standard `Request`
 * (its body read raw under a limit, or rebuilt when a body parser got there first),
 * the handler answers, the `Response` is written back. Failures that are not §2 answers
 * are logged; an answer that cannot be sent goes to `next(err)`.
 */
import type { NextFunction, Request as ExpressRequest, RequestHandler, Response as ExpressResponse } from "express";
import { PmError, errorResponse, isProtocolErrorCode, type Logger } from "@indiepm/core";
import { sendWebResponse, toWebRequest } from "@indiepm/core/node";
import { bodyAlreadyRead, rebuildBody } from "./parsed-body.js";

export type Log = (message: string, data?: Record<string, unknown>) => void;

export function errorLogger(logger: Logger | undefined): Log {
  return logger ? logger.error.bind(logger) : (message, data) => console.error(message, data);
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
}

export function webHandler(
  handle: (request: Request, context: { path: string; clientAddress?: string }) => Promise<Response>,
  options: BridgeOptions,
): RequestHandler {
  const run = async (req: ExpressRequest, res: ExpressResponse, next: NextFunction): Promise<void> => {
    let response: Response;
    try {
      if (!(await options.started)) {
        throw new PmError("temporarily_unavailable", "This pm endpoint failed to start; its owner can see why in the server log.");
      }
      const body = bodyAlreadyRead(req) ? rebuildBody(req) : undefined;
      const origin = options.baseUrl ?? originOf(req);
      const request = await toWebRequest(req, {
        maxBodyBytes: options.maxBodyBytes,
        target: req.originalUrl,
        ...(origin === undefined ? {} : { baseUrl: origin }),
        ...(body === undefined ? {} : { body }),
      });
      response = await handle(request, { path: req.path, ...(req.ip === undefined ? {} : { clientAddress: req.ip }) });
    } catch (error) {
      // PmErrors with a protocol code are answers (413, 400…); anything else is a failure to log.
      if (!(error instanceof PmError && isProtocolErrorCode(error.code))) {
        options.log("indiepm: request failed", { method: req.method, url: req.originalUrl, error: describeFailure(error) });
      }
      if (res.headersSent || res.destroyed) return;
      response = errorResponse(error);
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
