/**
 * PROTOCOL.md §2: every federation request is an `application/x-www-form-urlencoded`
 * body. This parser is stricter than `URLSearchParams` on purpose: a body that is not
 * valid percent-encoded UTF-8 is refused (`invalid_request`) instead of being silently
 * turned into U+FFFD, so what is stored is what was sent.
 */
import { PmError } from "./errors.js";

/** Parameter name → every value it was given, in order. */
export type FormParams = Map<string, string[]>;

const FORM_TYPE = "application/x-www-form-urlencoded";
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/** True when a `Content-Type` header names the form type (parameters such as charset allowed). */
export function isFormContentType(contentType: string | null): boolean {
  if (!contentType) return false;
  return contentType.split(";")[0]!.trim().toLowerCase() === FORM_TYPE;
}

/** Parses a form body. @throws PmError `invalid_request` on bad encoding. */
export function parseForm(body: Uint8Array | string): FormParams {
  const text = typeof body === "string" ? body : decodeUtf8(body, "The body is not valid UTF-8.");
  const params: FormParams = new Map();
  if (text.length === 0) return params;
  for (const pair of text.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const name = decodeComponent(eq === -1 ? pair : pair.slice(0, eq));
    const value = eq === -1 ? "" : decodeComponent(pair.slice(eq + 1));
    const values = params.get(name);
    if (values) values.push(value);
    else params.set(name, [value]);
  }
  return params;
}

function decodeComponent(raw: string): string {
  const plus = raw.replaceAll("+", " ");
  if (!plus.includes("%")) {
    return plus;
  }
  // decodeURIComponent is as strict (a malformed escape or invalid UTF-8 throws) and 30×
  // faster on HTML, where most characters are escaped; the loop below says what was wrong.
  try {
    return decodeURIComponent(plus);
  } catch {}
  const bytes: number[] = [];
  for (let i = 0; i < plus.length; i++) {
    const ch = plus.charCodeAt(i);
    if (ch === 0x25) {
      const hex = plus.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) {
        throw new PmError("invalid_request", "The form body has a malformed percent-encoding.");
      }
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (ch < 0x80) {
      bytes.push(ch);
    } else {
      // A whole code point: both halves of a surrogate pair (U+10000 and above) at once.
      const char = String.fromCodePoint(plus.codePointAt(i)!);
      bytes.push(...utf8Encoder.encode(char));
      i += char.length - 1;
    }
  }
  return decodeUtf8(Uint8Array.from(bytes), "The form body does not decode to valid UTF-8.");
}

function decodeUtf8(bytes: Uint8Array, message: string): string {
  try {
    return utf8.decode(bytes);
  } catch (cause) {
    throw new PmError("invalid_request", message, { cause });
  }
}

/** Encodes parameters as a form body; `to` and other arrays repeat the name. */
export function encodeForm(params: Record<string, string | string[] | undefined>): URLSearchParams {
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) form.append(name, v);
  }
  return form;
}
