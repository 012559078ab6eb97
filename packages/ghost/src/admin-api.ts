/**
 * The few calls of Ghost's Admin API (https://ghost.org/docs/admin-api/) that setup
 * needs. Authentication: a staff access token (Settings → Staff → your profile) or an
 * integration's Admin API key, both `{id}:{secret}`, signs a short-lived JWT (HS256,
 * `kid` = id, `aud` = `/admin/`, 5 minutes) sent as `Authorization: Ghost <jwt>`.
 *
 * Only a staff token may edit settings: Ghost answers an integration's
 * `PUT /settings/` with 501 `NotImplementedError` (its integration allow-list grants
 * settings `GET` only).
 */
import { createHmac } from "node:crypto";
import { GhostError } from "./errors.js";

/** The Admin API version this client speaks (`Accept-Version`). */
export const GHOST_ACCEPT_VERSION = "v5.0";

/** Ghost accepts a token for at most 5 minutes. */
const TOKEN_LIFETIME_SECONDS = 5 * 60;

export interface AdminKey {
  id: string;
  /** The secret, hex as Ghost shows it. */
  secret: string;
}

/**
 * Splits a staff access token or Admin API key, `{id}:{secret}`.
 * @throws GhostError `invalid_key`, saying what a key looks like (and spotting a Content API key).
 */
export function parseAdminKey(text: string): AdminKey {
  const key = text.trim();
  const match = /^([0-9a-f]+):([0-9a-f]+)$/i.exec(key);
  if (match && match[2]!.length % 2 === 0 && match[2]!.length >= 32) return { id: match[1]!, secret: match[2]! };
  if (/^[0-9a-f]{20,40}$/i.test(key)) {
    throw new GhostError(
      "invalid_key",
      "that looks like a Content API key, which can only read; use a staff access token (Ghost Admin → Settings → Staff → your profile → Staff access token)",
    );
  }
  throw new GhostError(
    "invalid_key",
    "the key must be a staff access token as Ghost shows it, ID:SECRET in hex (Ghost Admin → Settings → Staff → your profile → Staff access token)",
  );
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

/** The JWT Ghost's Admin API takes in `Authorization: Ghost <jwt>`, valid for 5 minutes from `nowMs`. */
export function adminApiToken(key: AdminKey, nowMs: number = Date.now()): string {
  const iat = Math.floor(nowMs / 1000);
  const input = `${base64url({ alg: "HS256", typ: "JWT", kid: key.id })}.${base64url({ iat, exp: iat + TOKEN_LIFETIME_SECONDS, aud: "/admin/" })}`;
  const signature = createHmac("sha256", Buffer.from(key.secret, "hex")).update(input).digest("base64url");
  return `${input}.${signature}`;
}

export interface GhostAdminClientOptions {
  /**
   * Where Ghost's admin lives: the site URL, or Ghost's `admin.url` when it is set apart
   * (the API is `ghost/api/admin/` under it).
   */
  adminUrl: string;
  key: AdminKey;
  /** Defaults to the global `fetch`. */
  fetch?: typeof globalThis.fetch;
  /** Per request; default 15 s. */
  timeoutMs?: number;
  now?: () => number;
}

/** Ghost's settings, key → value (`codeinjection_head` and the rest). */
export type GhostSettings = Record<string, unknown>;

/** Who the key speaks for. */
export type GhostIdentity = { kind: "staff"; name: string; email: string; roles: string[] } | { kind: "integration" };

export interface GhostAdminClient {
  /** The API root, `…/ghost/api/admin/`. */
  readonly apiUrl: string;
  /** `GET /users/me/`: the staff user of a staff token; an integration key has none. */
  whoAmI(): Promise<GhostIdentity>;
  /** `GET /settings/`. */
  readSettings(): Promise<GhostSettings>;
  /** `PUT /settings/` with the given keys only; resolves with the settings Ghost sends back. */
  editSettings(changes: ReadonlyArray<{ key: string; value: unknown }>): Promise<GhostSettings>;
}

interface GhostErrorBody {
  message?: string;
  context?: string | null;
  type?: string;
}

function ghostErrorOf(json: unknown): GhostErrorBody | undefined {
  const errors = (json as { errors?: unknown } | null)?.errors;
  return Array.isArray(errors) && typeof errors[0] === "object" && errors[0] !== null ? (errors[0] as GhostErrorBody) : undefined;
}

function settingsOf(json: unknown, url: string): GhostSettings {
  const list = (json as { settings?: unknown } | null)?.settings;
  if (!Array.isArray(list)) throw new GhostError("not_ghost", `${url} did not answer with Ghost's settings.`);
  const settings: GhostSettings = {};
  for (const entry of list as Array<{ key?: unknown; value?: unknown }>) {
    if (typeof entry?.key === "string") settings[entry.key] = entry.value;
  }
  return settings;
}

/** A client for `adminUrl`'s Admin API, signing a fresh token per request. */
export function createGhostAdminClient(options: GhostAdminClientOptions): GhostAdminClient {
  const root = new URL(options.adminUrl);
  if (!root.pathname.endsWith("/")) root.pathname += "/";
  const apiUrl = new URL("ghost/api/admin/", root).href;
  const doFetch = options.fetch ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const now = options.now ?? Date.now;

  async function call(method: "GET" | "PUT", path: string, body?: unknown): Promise<unknown> {
    const url = new URL(path, apiUrl).href;
    let response: Response;
    try {
      response = await doFetch(url, {
        method,
        redirect: "manual",
        headers: {
          authorization: `Ghost ${adminApiToken(options.key, now())}`,
          "accept-version": GHOST_ACCEPT_VERSION,
          accept: "application/json",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const reason = error instanceof Error && error.name === "TimeoutError" ? `no answer within ${timeoutMs / 1000} s` : causeText(error);
      throw new GhostError("network_error", `could not reach Ghost's Admin API at ${url}: ${reason}`, { cause: error });
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (response.status >= 300 && response.status < 400) {
      const location = response.headers.get("location");
      const target = location && URL.canParse(location, url) ? new URL(location, url) : undefined;
      const where = target ? ` to ${target.origin}/` : "";
      throw new GhostError("redirected", `Ghost's Admin API at ${url} redirects${where}; give Ghost's admin address (its admin.url) with --admin-url`, {
        status: response.status,
      });
    }
    if (response.ok) {
      if (json === undefined)
        throw new GhostError("not_ghost", `${url} answered ${response.status} without Ghost's JSON; is ${root.href} a Ghost site?`, {
          status: response.status,
        });
      return json;
    }
    const detail = ghostErrorOf(json);
    if (!detail) {
      throw new GhostError(
        "not_ghost",
        `${url} answered ${response.status} without Ghost's JSON; is ${root.href} a Ghost site (or is Ghost's admin elsewhere: --admin-url)?`,
        { status: response.status },
      );
    }
    const said = [detail.message, detail.context]
      .filter((part) => typeof part === "string" && part !== "")
      .join(" ")
      .replace(/\.$/, "");
    if (response.status === 501 || detail.type === "NotImplementedError") {
      throw new GhostError(
        "integration_key",
        `Ghost answered ${response.status} ${detail.type ?? ""} (${said}): a custom integration's Admin API key may only read settings`.replace(/ {2,}/g, " "),
        { status: response.status },
      );
    }
    if (response.status === 401) {
      throw new GhostError("unauthorized", `Ghost refused the key (${said}); check the staff access token and this machine's clock`, {
        status: response.status,
      });
    }
    if (response.status === 403) {
      throw new GhostError("forbidden", `Ghost refused (${said}); only an Administrator's or the Owner's staff access token may edit site settings`, {
        status: response.status,
      });
    }
    throw new GhostError("ghost_error", `Ghost answered ${response.status} ${detail.type ?? "error"}: ${said}`, { status: response.status });
  }

  return {
    apiUrl,
    async whoAmI() {
      try {
        const json = (await call("GET", "users/me/?include=roles")) as { users?: Array<{ name?: string; email?: string; roles?: Array<{ name?: string }> }> };
        const user = json.users?.[0];
        if (!user) throw new GhostError("not_ghost", `${apiUrl}users/me/ did not answer with a user.`);
        return { kind: "staff", name: user.name ?? "", email: user.email ?? "", roles: (user.roles ?? []).map((role) => role.name ?? "").filter(Boolean) };
      } catch (error) {
        // An integration key authenticates but has no user: Ghost cannot resolve "me".
        if (error instanceof GhostError && (error.status === 404 || error.code === "integration_key")) return { kind: "integration" };
        throw error;
      }
    },
    async readSettings() {
      return settingsOf(await call("GET", "settings/"), `${apiUrl}settings/`);
    },
    async editSettings(changes) {
      return settingsOf(await call("PUT", "settings/", { settings: changes.map(({ key, value }) => ({ key, value })) }), `${apiUrl}settings/`);
    },
  };
}

function causeText(error: unknown): string {
  const cause = (error as { cause?: unknown })?.cause;
  const inner = cause instanceof Error ? cause.message : undefined;
  const outer = error instanceof Error ? error.message : String(error);
  return (inner ?? outer).replace(/\.$/, "");
}
