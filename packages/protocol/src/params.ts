/**
 * PROTOCOL.md §2 "Requests and answers" and the parameter tables of §3, §4 and §5: turns
 * a parsed form into one typed request per `action`, or the first §2 error in check
 * order (413 `content` size, then 400 form and parameters). Pure: no I/O, no state.
 */
import { PmError } from "./errors.js";
import { isMessageId, parseEndpointUrl, parseSiteUrl, type UrlPolicy } from "./urls.js";
import type { FormParams } from "./form.js";

export const ACTIONS = ["notify", "verify", "request", "authorize", "grant", "deliver"] as const;
export type Action = (typeof ACTIONS)[number];

/** §2: `content` is at most 64 KiB of UTF-8. */
export const MAX_CONTENT_BYTES = 64 * 1024;
/** §2: a federation body is at most 256 KiB. */
export const MAX_BODY_BYTES = 256 * 1024;
/** §2 Formats: `expires_in` bounds, seconds. */
export const MIN_EXPIRES_IN = 60;
export const MAX_EXPIRES_IN = 31_536_000;

interface Sites {
  sender: string;
  recipient: string;
}

/** §3 step 2. `vouch` is §7's optional first-contact page. */
export interface NotifyRequest extends Sites {
  action: "notify";
  message: string;
  vouch?: string;
}
/** §4 step 2. */
export interface AuthorizeRequest extends Sites {
  action: "authorize";
  code: string;
  vouch?: string;
}
/** §3 step 3 (with `message`) and §4 step 3 (with `code`): exactly one of the two. */
export type VerifyRequest = Sites & { action: "verify" } & ({ message: string; code?: undefined } | { code: string; message?: undefined });
/** §3 step 4. */
export interface RequestRequest extends Sites {
  action: "request";
  message: string;
  endpoint: string;
  token: string;
}
/** §4 step 4. */
export interface GrantRequest extends Sites {
  action: "grant";
  code: string;
  endpoint: string;
  token: string;
  expiresIn: number;
}
/** §5 the message. */
export interface DeliverRequest extends Sites {
  action: "deliver";
  message: string;
  published: string;
  content: string;
  contentHtml?: string;
  name?: string;
  inReplyTo?: string;
  /** Canonical, duplicates removed; absent when the sender sent none. */
  to?: string[];
}

export type FederationRequest = NotifyRequest | AuthorizeRequest | VerifyRequest | RequestRequest | GrantRequest | DeliverRequest;

// RFC 3339 §5.6 date-time: full-date "T" full-time, T and Z in either case, an offset.
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$/;

/** True when `value` is an RFC 3339 date-time with a valid calendar date and time. */
export function isRfc3339(value: string): boolean {
  const m = RFC3339.exec(value);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 60) return false;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day > daysInMonth) return false;
  if (m[9] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) return false;
  return true;
}

/**
 * Reads one known parameter. Empty values count as missing (§2); a known parameter
 * other than `to` may not repeat.
 */
function single(form: FormParams, name: string, required: true): string;
function single(form: FormParams, name: string, required: false): string | undefined;
function single(form: FormParams, name: string, required: boolean): string | undefined {
  const values = (form.get(name) ?? []).filter((v) => v !== "");
  if (values.length > 1 || (form.get(name)?.length ?? 0) > 1) {
    throw new PmError("invalid_request", `The parameter ${name} is repeated.`);
  }
  const value = values[0];
  if (value === undefined && required) throw new PmError("invalid_request", `The parameter ${name} is missing.`);
  return value;
}

function messageId(form: FormParams, name: string, required: boolean): string | undefined {
  const value = required ? single(form, name, true) : single(form, name, false);
  if (value !== undefined && !isMessageId(value)) {
    throw new PmError("invalid_request", `The parameter ${name} is not an absolute URI of at most 512 ASCII characters without a fragment.`);
  }
  return value;
}

function sites(form: FormParams, policy: UrlPolicy): Sites {
  return {
    sender: parseSiteUrl(single(form, "sender", true), "sender", policy),
    recipient: parseSiteUrl(single(form, "recipient", true), "recipient", policy),
  };
}

/**
 * The byte length of a string in UTF-8, without allocating (§2 sizes are UTF-8 bytes). A
 * lone surrogate counts as the 3 bytes of the U+FFFD it is encoded as.
 */
export function utf8Length(value: string): number {
  let bytes = 0;
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && (value.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4; // a surrogate pair: one code point above U+FFFF
      i++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * §2: parses the form of a federation request, checking in the order §2 gives —
 * `content` size (413) before form and parameters (400).
 * @throws PmError `too_large` or `invalid_request`.
 */
export function parseFederationRequest(form: FormParams, policy: UrlPolicy): FederationRequest {
  const actions = form.get("action") ?? [];
  const action = actions.length === 1 ? actions[0] : undefined;
  if (action === "deliver") {
    for (const content of form.get("content") ?? []) {
      if (utf8Length(content) > MAX_CONTENT_BYTES) throw new PmError("too_large", "The content is over 64 KiB.");
    }
  }
  if (actions.length > 1) throw new PmError("invalid_request", "The parameter action is repeated.");
  if (!action) throw new PmError("invalid_request", "The parameter action is missing.");
  switch (action) {
    case "notify": {
      const s = sites(form, policy);
      const message = messageId(form, "message", true)!;
      const vouch = single(form, "vouch", false);
      return { action, ...s, message, ...(vouch !== undefined ? { vouch: parseSiteUrl(vouch, "vouch", policy) } : {}) };
    }
    case "authorize": {
      const s = sites(form, policy);
      const code = single(form, "code", true);
      const vouch = single(form, "vouch", false);
      return { action, ...s, code, ...(vouch !== undefined ? { vouch: parseSiteUrl(vouch, "vouch", policy) } : {}) };
    }
    case "verify": {
      const s = sites(form, policy);
      const message = messageId(form, "message", false);
      const code = single(form, "code", false);
      if ((message === undefined) === (code === undefined)) {
        throw new PmError("invalid_request", "A verify names exactly one of message and code.");
      }
      return message !== undefined ? { action, ...s, message } : { action, ...s, code: code! };
    }
    case "request": {
      const s = sites(form, policy);
      return {
        action,
        ...s,
        message: messageId(form, "message", true)!,
        endpoint: parseEndpointUrl(single(form, "endpoint", true), "endpoint", policy),
        token: single(form, "token", true),
      };
    }
    case "grant": {
      const s = sites(form, policy);
      const code = single(form, "code", true);
      const endpoint = parseEndpointUrl(single(form, "endpoint", true), "endpoint", policy);
      const token = single(form, "token", true);
      const raw = single(form, "expires_in", true);
      if (!/^[0-9]{1,9}$/.test(raw) || Number(raw) < MIN_EXPIRES_IN || Number(raw) > MAX_EXPIRES_IN) {
        throw new PmError("invalid_request", "The parameter expires_in must be whole seconds from 60 to 31536000, digits only.");
      }
      return { action, ...s, code, endpoint, token, expiresIn: Number(raw) };
    }
    case "deliver": {
      const s = sites(form, policy);
      const message = messageId(form, "message", true)!;
      const published = single(form, "published", true);
      if (!isRfc3339(published)) throw new PmError("invalid_request", "The parameter published is not an RFC 3339 date-time.");
      const content = single(form, "content", true);
      const contentHtml = single(form, "content-html", false);
      const name = single(form, "name", false);
      const inReplyTo = messageId(form, "in-reply-to", false);
      const rawTo = (form.get("to") ?? []).filter((v) => v !== "");
      // Repeats are parsed once (§2: duplicates in `to` are ignored).
      const to = rawTo.length > 0 ? [...new Set([...new Set(rawTo)].map((t) => parseSiteUrl(t, "to", policy)))] : undefined;
      // §5: `to` lists every recipient shown, `recipient` among them; one without it is malformed.
      if (to && !to.includes(s.recipient)) throw new PmError("invalid_request", "The parameter to does not name recipient; §5 lists the recipient among to.");
      return {
        action,
        ...s,
        message,
        published,
        content,
        ...(contentHtml !== undefined ? { contentHtml } : {}),
        ...(name !== undefined ? { name } : {}),
        ...(inReplyTo !== undefined ? { inReplyTo } : {}),
        ...(to ? { to } : {}),
      };
    }
    default:
      throw new PmError("invalid_request", `The action ${JSON.stringify(action.slice(0, 40))} is unknown.`);
  }
}

/** §5: the bearer token of a `deliver`, or undefined when the header is absent or not Bearer. */
export function bearerToken(authorization: string | null): string | undefined {
  if (!authorization) return undefined;
  const m = /^Bearer[ ]+([^\s]+)\s*$/i.exec(authorization);
  return m?.[1];
}
