/**
 * A flash: what one page hands the next across a Post/Redirect/Get — a form's error (which
 * field, in plain words, with a details line) and the values typed, so the page after the
 * redirect shows the error beside its field with the value kept, and a reload re-submits
 * nothing. Kept by the engine's owner sessions (`PmServer.sessions`, in the store: any
 * instance on a shared store may answer the GET), stored only as a hash, bound to the
 * signed-in session that made it, short-lived and single use. The redirect carries its
 * secret as `?flash=`; another session's, a used or an expired one reads as none.
 */
import { createHash } from "node:crypto";
import type { PmServer } from "@indiepm/core";
import { sameSecret } from "./security.js";

const KIND = "web-flash";
/** Long enough for the redirect to be followed, short enough that a stale link shows nothing. */
export const FLASH_LIFETIME_MS = 5 * 60_000;
/** At most this many characters of each kept value: room for a message (64 KiB of text) if compose or reply keeps one. */
const MAX_VALUE = 70_000;

/** A form's error, for the field it belongs to. */
export interface FlashError {
  /** The field's `name` (or a key the page maps to its input), e.g. `"site"`, `"webhook"`, `"to"`. */
  field: string;
  /** One plain sentence for people. */
  message: string;
  /** The technical detail (an error code, a status) for a `<details>` line; optional. */
  detail?: string;
}

export interface FlashData {
  /** Which form it came from (e.g. `"contacts/add"`), so a page with several forms fills the right one. */
  form?: string;
  error?: FlashError;
  /** The values the form posted, by field name, to put back. */
  values?: Record<string, string>;
  /** A notice key (pages.ts `NOTICES`) or a short sentence to show once. */
  notice?: string;
  /** Anything else a page wants once (e.g. a webhook test's result). */
  extra?: Record<string, string | number | boolean | null>;
}

/** The part of a session a flash is bound to (sign-in.ts `Session`). */
export interface FlashSession {
  secret: string;
}

export interface Flash {
  /** Keeps `data` for the next page of `session`; resolves the value for `?flash=`. */
  put(session: FlashSession, data: FlashData): Promise<string>;
  /** The flash `?flash=` names, once: `null` when absent, used, expired, or made by another session. */
  take(session: FlashSession, query: URLSearchParams): Promise<FlashData | null>;
  /** `location` (a path under the inbox, may already have a query or `#fragment`) with `data`'s `flash=` added. */
  location(session: FlashSession, location: string, data: FlashData): Promise<string>;
}

/** What a flash keeps of the session that made it: a hash of its secret, never the secret. */
function hashOf(secret: string): string {
  return createHash("sha256").update(`indiepm-flash:${secret}`).digest("base64url");
}

function clean(data: FlashData): FlashData {
  const values = data.values ? Object.fromEntries(Object.entries(data.values).map(([k, v]) => [k.slice(0, 100), String(v).slice(0, MAX_VALUE)])) : undefined;
  return { ...data, ...(values ? { values } : {}) };
}

export function createFlash(pm: Pick<PmServer, "sessions">, lifetimeMs = FLASH_LIFETIME_MS): Flash {
  async function put(session: FlashSession, data: FlashData): Promise<string> {
    return pm.sessions.create(KIND, { session: hashOf(session.secret), flash: clean(data) as Record<string, unknown> }, lifetimeMs);
  }
  return {
    put,
    async take(session, query) {
      const secret = query.get("flash");
      if (!secret) return null;
      const found = await pm.sessions.take(KIND, secret);
      const bound = found?.data.session;
      if (!found || typeof bound !== "string" || !sameSecret(bound, hashOf(session.secret))) return null;
      return found.data.flash as FlashData;
    },
    async location(session, location, data) {
      const secret = await put(session, data);
      const hash = location.indexOf("#");
      const [path, fragment] = hash < 0 ? [location, ""] : [location.slice(0, hash), location.slice(hash)];
      return `${path}${path.includes("?") ? "&" : "?"}flash=${secret}${fragment}`;
    },
  };
}
