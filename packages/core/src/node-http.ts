/**
 * `@indiepm/core/node`: the bridge between `node:http` and the web-standard `Request` /
 * `Response` that `PmServer.handle` speaks. Framework-neutral (types from `node:http`
 * only, like helmet), so the standalone server and the Express middleware share it.
 *
 * The body is read here, under a hard limit (PROTOCOL.md §2: a federation body is at most
 * 256 KiB): a request that announces or sends more is refused with `too_large` as soon as
 * that is known, and the rest is never buffered.
 *
 * The client address (`RequestContext.clientAddress`, which the §6 rate limits count) is
 * the connection's, or behind a trusted reverse proxy the one `X-Forwarded-For` names
 * (http/trust-proxy.ts, the one place of that rule).
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { WholeRequest, WholeResponse } from "@indiepm/protocol";
import type { Logger, PmServer } from "./api.js";
import { PmError, errorResponse } from "./errors.js";
import { BODY_LIMITS, MAX_REQUEST_BODY_BYTES } from "./http/body-limits.js";
import { clientAddressResolver, parseTrustProxy, type TrustProxy, type TrustProxyValue } from "./http/trust-proxy.js";

export { BODY_LIMITS, MAX_REQUEST_BODY_BYTES, type BodyLimitKind } from "./http/body-limits.js";
export { clientAddressOf, clientAddressResolver, parseTrustProxy, TRUST_PROXY_OFF, type TrustProxy, type TrustProxyValue } from "./http/trust-proxy.js";

/** PROTOCOL.md §2: the largest federation request body, bytes (256 KiB): `BODY_LIMITS.federation`. */
export const MAX_FEDERATION_BODY_BYTES = BODY_LIMITS.federation;

export interface ToWebRequestOptions {
  /**
   * Origin the request's path is resolved against, as `https://pm.example.net`
   * (a path in it is ignored). Default: `http://` and the request's `Host` header.
   */
  baseUrl?: string;
  /** Most body bytes read; a larger body throws `PmError("too_large")`. */
  maxBodyBytes: number;
  /**
   * The request-target to use instead of `req.url` (Express rewrites `req.url` under a
   * mount path; pass `req.originalUrl`).
   */
  target?: string;
  /** A body already read by someone else; `req` is then not read (still held to `maxBodyBytes`). */
  body?: Uint8Array;
}

// Hop-by-hop and framing headers describe the node:http connection, not the request.
const SKIPPED_HEADERS = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "content-length",
  "upgrade",
  "proxy-connection",
  "te",
  "trailer",
  "http2-settings",
]);

/** Methods that never carry a body in a `Request`. */
const BODYLESS = new Set(["GET", "HEAD"]);

/**
 * The absolute URL of a node:http request. `req.url` is a path (origin-form) that is
 * appended to the base origin as a string, never resolved against it, so a path such as
 * `//evil.example/` cannot change the host.
 */
export function requestUrl(req: IncomingMessage, baseUrl?: string, target: string = req.url ?? "/"): URL {
  const origin = originOf(req, baseUrl);
  const raw = target;
  let pathAndQuery = raw;
  if (!raw.startsWith("/")) {
    // absolute-form (`GET http://host/path`, RFC 9112 §3.2.2) or `*`: keep its path only.
    pathAndQuery = URL.canParse(raw) ? pathOf(new URL(raw)) : "/";
  }
  try {
    return new URL(origin + pathAndQuery);
  } catch {
    return new URL(`${origin}/`);
  }
}

function pathOf(url: URL): string {
  return url.pathname + url.search;
}

function originOf(req: IncomingMessage, baseUrl?: string): string {
  if (baseUrl !== undefined) return new URL(baseUrl).origin;
  const host = req.headers.host;
  if (host && URL.canParse(`http://${host}/`)) {
    const url = new URL(`http://${host}/`);
    // Only a bare authority: `Host: a@b` or `Host: a/b` would otherwise slip through.
    if (url.host.toLowerCase() === host.toLowerCase()) return url.origin;
  }
  return "http://localhost";
}

function toHeaders(incoming: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || SKIPPED_HEADERS.has(name) || name.startsWith(":")) continue;
    try {
      for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
    } catch {
      // node:http already validated names and values; whatever Headers still refuses is dropped.
    }
  }
  return headers;
}

function tooLarge(maxBodyBytes: number): PmError {
  return new PmError("too_large", `The request body is over the limit of ${maxBodyBytes} bytes.`);
}

/**
 * Reads the whole body of `req`, at most `maxBodyBytes`. Refuses at once when
 * `Content-Length` says more; otherwise stops listening as soon as the count passes the
 * limit, so the rest is not kept: it is read off and dropped, so that the client, still
 * sending, can read the answer (answer `too_large` with `Connection: close` so a huge
 * upload is not read to its end).
 * @throws PmError `too_large`; the stream's own error when the client goes away.
 */
export function readBody(req: IncomingMessage, maxBodyBytes: number): Promise<Uint8Array> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) > maxBodyBytes) {
    return Promise.reject(tooLarge(maxBodyBytes));
  }
  if (req.readableEnded) return Promise.resolve(new Uint8Array(0));

  return new Promise<Uint8Array>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const cleanup = (): void => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
      req.off("close", onClose);
    };
    const onData = (chunk: Buffer | string): void => {
      const buffer = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      received += buffer.length;
      if (received > maxBodyBytes) {
        cleanup();
        chunks.length = 0;
        req.resume();
        reject(tooLarge(maxBodyBytes));
        return;
      }
      chunks.push(buffer);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, received));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onClose = (): void => {
      // `close` without `end`: the client went away mid-body.
      if (req.readableEnded) return;
      cleanup();
      reject(new Error("The client closed the connection before sending the whole body."));
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}

/**
 * A web-standard `Request` for a node:http request, its body read under
 * `maxBodyBytes` (PROTOCOL.md §2: 256 KiB for the federation endpoint).
 * @throws PmError `too_large` when the body is over the limit.
 */
export async function toWebRequest(req: IncomingMessage, options: ToWebRequestOptions): Promise<Request> {
  const method = (req.method ?? "GET").toUpperCase();
  const url = requestUrl(req, options.baseUrl, options.target);
  const headers = toHeaders(req.headers);
  if (BODYLESS.has(method)) return new Request(url, { method, headers });
  if (options.body !== undefined && options.body.byteLength > options.maxBodyBytes) throw tooLarge(options.maxBodyBytes);
  const body = options.body ?? (await readBody(req, options.maxBodyBytes));
  if (body.byteLength === 0) return new Request(url, { method, headers });
  // A view on a SharedArrayBuffer is not a BodyInit; copy only then.
  const bytes = body.buffer instanceof ArrayBuffer ? (body as Uint8Array<ArrayBuffer>) : new Uint8Array(body);
  // Held as read: no stream is made unless a handler asks for `body` (protocol's whole-body.ts).
  return new WholeRequest(url, { method, headers }, bytes);
}

/**
 * Writes a web-standard `Response` to a node:http response: status, headers (each
 * `Set-Cookie` kept apart) and the body. A body that is whole at once goes out in one
 * write with its `Content-Length`: a `WholeResponse`'s bytes as they are (every §2 JSON
 * answer and page, no stream made), any other body when its end comes with its first
 * chunk; a body still coming after its first chunk is streamed (chunked), with
 * back-pressure. When the client goes away the body is cancelled.
 */
export async function sendWebResponse(res: ServerResponse, response: Response): Promise<void> {
  res.statusCode = response.status;
  if (response.statusText) res.statusMessage = response.statusText;
  const cookies = response.headers.getSetCookie();
  for (const [name, value] of response.headers) {
    if (name === "set-cookie") continue;
    res.setHeader(name, value);
  }
  if (cookies.length > 0) res.setHeader("set-cookie", cookies);

  // A body held whole (every §2 answer, pages): written as it is, no stream made.
  const whole = response instanceof WholeResponse ? response.wholeBody() : undefined;
  if (whole !== undefined) {
    if (res.destroyed) return;
    if (!res.hasHeader("content-length") && !res.hasHeader("transfer-encoding")) res.setHeader("content-length", whole.byteLength);
    res.end(whole);
    return;
  }
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  const onClose = (): void => {
    reader.cancel().catch(() => undefined);
  };
  res.once("close", onClose);
  try {
    const first = await reader.read();
    if (first.done) {
      if (!res.destroyed) res.end();
      return;
    }
    // Whole when its end is already there: the next read settles before the next turn of the event loop.
    const next = reader.read();
    next.catch(() => undefined);
    const settled = await Promise.race([next, new Promise<"later">((resolve) => setImmediate(resolve, "later"))]);
    if (settled !== "later" && settled.done) {
      if (res.destroyed) return;
      if (!res.hasHeader("content-length") && !res.hasHeader("transfer-encoding")) res.setHeader("content-length", first.value.byteLength);
      res.end(first.value);
      return;
    }
    let chunk: ReadableStreamReadResult<Uint8Array> = first;
    let pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined = next;
    for (;;) {
      if (res.destroyed) return;
      if (!res.write(chunk.value)) {
        await new Promise<void>((resolve) => {
          const settle = (): void => {
            res.off("drain", settle);
            res.off("close", settle);
            resolve();
          };
          res.on("drain", settle);
          res.on("close", settle);
        });
      }
      chunk = await (pending ?? reader.read());
      pending = undefined;
      if (chunk.done) break;
    }
    if (!res.destroyed) res.end();
  } finally {
    res.off("close", onClose);
    try {
      reader.releaseLock();
    } catch {
      // A read still pending (the client went away mid-body): the body was cancelled.
    }
  }
}

export interface NodeHandlerOptions {
  /** Origin of the request URLs (see `ToWebRequestOptions.baseUrl`). */
  baseUrl?: string;
  /** Largest request body read before the route is known, bytes (default `MAX_REQUEST_BODY_BYTES`, the largest of `BODY_LIMITS`: 256 KiB). */
  maxBodyBytes?: number;
  /** Where unexpected failures (and the one warning about `X-Forwarded-For`) are logged (default: the console). */
  logger?: Pick<Logger, "error"> & Partial<Pick<Logger, "warn">>;
  /**
   * Which reverse proxies in front are trusted to name the client in `X-Forwarded-For`
   * (see http/trust-proxy.ts). Default: the server's own `trustProxy` (`createPmServer`'s
   * option), else off.
   */
  trustProxy?: TrustProxy | TrustProxyValue;
}

export type NodeHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * A `node:http` request listener answering with `server.handle`, mounted at `/` (the
 * standalone server: its federation endpoint is `POST /`). A body over the limit is
 * answered `413 too_large` in the §2 shape; an unexpected failure `500 server_error`,
 * logged, without a stack.
 */
export function createNodeHandler(server: Pick<PmServer, "handle"> & Partial<Pick<PmServer, "trustProxy">>, options: NodeHandlerOptions = {}): NodeHandler {
  const maxBodyBytes = options.maxBodyBytes ?? MAX_REQUEST_BODY_BYTES;
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 0) {
    throw new PmError("invalid_config", `createNodeHandler: option \`maxBodyBytes\` must be a whole number of bytes, got ${String(maxBodyBytes)}.`);
  }
  if (options.baseUrl !== undefined && !URL.canParse(options.baseUrl)) {
    throw new PmError("invalid_config", `createNodeHandler: option \`baseUrl\` must be an absolute URL, got ${JSON.stringify(options.baseUrl)}.`);
  }
  const given = options.trustProxy ?? server.trustProxy;
  const trust = isTrustProxy(given) ? given : parseTrustProxy(given, "createNodeHandler: option `trustProxy`");
  const warn = (message: string): void => {
    if (options.logger?.warn) options.logger.warn(message);
    else if (!options.logger) console.warn(`indiepm: ${message}`);
  };
  const clientAddressOf = clientAddressResolver(trust, warn);
  const logError = (error: unknown, req: IncomingMessage): void => {
    const log = options.logger?.error.bind(options.logger);
    const data = { method: req.method, url: req.url, error: error instanceof Error ? (error.stack ?? error.message) : String(error) };
    if (log) log("indiepm: request failed", data);
    else console.error("indiepm: request failed", data);
  };

  return (req, res) => {
    void (async () => {
      let response: Response;
      try {
        const request = await toWebRequest(req, { maxBodyBytes, ...(options.baseUrl === undefined ? {} : { baseUrl: options.baseUrl }) });
        const context: { path: string; clientAddress?: string } = { path: new URL(request.url).pathname };
        const clientAddress = clientAddressOf(req.socket.remoteAddress, req.headers["x-forwarded-for"]);
        if (clientAddress !== undefined) context.clientAddress = clientAddress;
        response = await server.handle(request, context);
      } catch (error) {
        if (!(error instanceof PmError)) logError(error, req);
        if (res.destroyed) return;
        response = errorResponse(error);
        if (error instanceof PmError && error.code === "too_large") response.headers.set("connection", "close");
      }
      try {
        await sendWebResponse(res, response);
      } catch (error) {
        logError(error, req);
        if (!res.headersSent) {
          await sendWebResponse(res, errorResponse(error)).catch(() => res.destroy());
        } else {
          res.destroy();
        }
      }
    })();
  };
}

function isTrustProxy(value: unknown): value is TrustProxy {
  return typeof value === "object" && value !== null && !Array.isArray(value) && typeof (value as TrustProxy).trusts === "function";
}
