/**
 * When the host app's body parser ran before indiepm (`app.use(express.urlencoded())`
 * above the mount), the request stream is already consumed. The engine needs the body
 * as bytes, so it is rebuilt from what the parser left: `req.rawBody` (a common
 * `verify` convention), a Buffer or string (`express.raw()`, `express.text()`), or the
 * flat object of `express.urlencoded()` / `express.json()`. Anything else is refused
 * with a sentence that says how to mount indiepm.
 */
import type { IncomingMessage } from "node:http";
import { IndiePmExpressError } from "./errors.js";

type ParsedRequest = IncomingMessage & { body?: unknown; rawBody?: unknown };

const MOUNT_ADVICE = "mount indiepm before the app's body parsers (or apply them to your own routes only)";

/** True when someone else already read the request body (the test body-parser uses). */
export function bodyAlreadyRead(req: IncomingMessage): boolean {
  return req.readableEnded || (req.complete && !req.readable);
}

function announcesBody(req: IncomingMessage): boolean {
  return req.headers["transfer-encoding"] !== undefined || (req.headers["content-length"] ?? "0") !== "0";
}

function mediaType(req: IncomingMessage): string {
  return (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
}

/**
 * The body bytes of a request whose stream another middleware consumed.
 * @throws IndiePmExpressError `invalid_request` (answered 400) when the parsed form cannot be rebuilt faithfully.
 */
export function rebuildBody(req: ParsedRequest): Uint8Array {
  const { rawBody, body } = req;
  if (Buffer.isBuffer(rawBody) || rawBody instanceof Uint8Array) return rawBody;
  if (typeof rawBody === "string") return Buffer.from(rawBody, "utf8");
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) return body;
  if (typeof body === "string") return Buffer.from(body, "utf8");

  if (!announcesBody(req)) return new Uint8Array(0);
  if (body === undefined) {
    throw new IndiePmExpressError("invalid_request", `The request body was read by another middleware before indiepm; ${MOUNT_ADVICE}.`);
  }

  const type = mediaType(req);
  if (type === "application/x-www-form-urlencoded" && typeof body === "object" && body !== null) {
    const form = new URLSearchParams();
    for (const [name, value] of Object.entries(body)) {
      if (typeof value === "string") form.append(name, value);
      else if (Array.isArray(value) && value.every((v) => typeof v === "string")) for (const v of value) form.append(name, v);
      else {
        throw new IndiePmExpressError(
          "invalid_request",
          `The app's body parser turned parameter ${JSON.stringify(name)} into a nested value indiepm cannot read back; ${MOUNT_ADVICE}.`,
        );
      }
    }
    return Buffer.from(form.toString(), "utf8");
  }
  if (type === "application/json" || type.endsWith("+json")) return Buffer.from(JSON.stringify(body), "utf8");
  throw new IndiePmExpressError("invalid_request", `The request body was parsed by another middleware into a form indiepm cannot read back; ${MOUNT_ADVICE}.`);
}
