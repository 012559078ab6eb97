/**
 * The owner API client (the route table of @indiepm/core's api.ts): JSON over HTTP with
 * `Authorization: Bearer OWNER_TOKEN`. Errors the server answers in the §2 shape come
 * back as `CliError` with the server's code as `serverCode`; an unreachable server as
 * `CliError` without one.
 */
import type { DeliveryView, GrantedToken, ListQuery, MessageLookup, Page, ReceivedMessage, SendInput, SentMessage } from "@indiepm/core";
import { CliError } from "./cli-error.js";

/** api.ts's owner routes, relative to the server URL (`{id}` is URI-encoded). */
export const OWNER_ROUTES = {
  send: { method: "POST", path: "api/messages" },
  getMessage: { method: "GET", path: "api/messages/{id}" },
  deleteMessage: { method: "DELETE", path: "api/messages/{id}" },
  inbox: { method: "GET", path: "api/inbox" },
  outbox: { method: "GET", path: "api/outbox" },
  tokens: { method: "GET", path: "api/tokens" },
  revokeToken: { method: "DELETE", path: "api/tokens/{id}" },
} as const;

export type OwnerRoute = keyof typeof OWNER_ROUTES;

/** `POST api/messages` answers 202 with the message ID and one pending delivery per recipient. */
export interface SendAnswer {
  message: string;
  deliveries: DeliveryView[];
}

export interface OwnerClientOptions {
  /** Base URL of the server (its owner API is under `api/`). */
  server: string;
  token: string;
  /** Time for one request and its answer (default 30 s). */
  timeoutMs?: number;
}

export interface OwnerClient {
  readonly server: string;
  send(input: SendInput): Promise<SendAnswer>;
  getMessage(id: string): Promise<MessageLookup>;
  deleteMessage(id: string): Promise<number>;
  inbox(query?: ListQuery): Promise<ReceivedMessage[]>;
  outbox(query?: ListQuery): Promise<SentMessage[]>;
  /** One page of the inbox, with the cursor of the next (the answer's `Link: <…?before=…>; rel="next"`). */
  inboxPage(query?: ListQuery): Promise<Page<ReceivedMessage>>;
  outboxPage(query?: ListQuery): Promise<Page<SentMessage>>;
  /** §4: standing tokens the server granted (never the secrets). */
  tokens(query?: { site?: string }): Promise<GrantedToken[]>;
  /** §4: revokes one. @throws CliError with `serverCode` when the server refuses (no such token: `invalid_request`). */
  revokeToken(id: string): Promise<void>;
}

/** The server URL as a base that `api/…` resolves under, whatever the user typed after the path. */
export function serverBase(server: string): URL {
  const url = new URL(server);
  url.hash = "";
  url.search = "";
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return url;
}

function routeUrl(base: URL, route: OwnerRoute, id?: string, query?: ListQuery): URL {
  const path = OWNER_ROUTES[route].path.replace("{id}", encodeURIComponent(id ?? ""));
  const url = new URL(path, base);
  if (query?.site !== undefined) url.searchParams.set("site", query.site);
  if (query?.limit !== undefined) url.searchParams.set("limit", String(query.limit));
  if (query?.before !== undefined) url.searchParams.set("before", query.before);
  return url;
}

function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (typeof cause?.code === "string") return cause.code;
  if (error instanceof Error && error.name === "TimeoutError") return "no answer in time";
  if (typeof cause?.message === "string") return cause.message;
  return error instanceof Error ? error.message : String(error);
}

export function createOwnerClient(options: OwnerClientOptions): OwnerClient {
  const base = serverBase(options.server);
  const timeoutMs = options.timeoutMs ?? 30_000;

  /** The `before` of the next page a list answer's `Link` header names, if any. */
  function nextCursor(response: Response): string | undefined {
    const link = /<([^>]*)>\s*;\s*rel="?next"?/.exec(response.headers.get("link") ?? "");
    return link ? (new URL(link[1]!, response.url || base).searchParams.get("before") ?? undefined) : undefined;
  }

  async function page<T>(route: OwnerRoute, query: ListQuery | undefined): Promise<Page<T>> {
    let next: string | undefined;
    const items = await call<T[]>(route, { ...(query ? { query } : {}), onResponse: (response) => (next = nextCursor(response)) });
    return { items, ...(next !== undefined ? { next } : {}) };
  }

  async function call<T>(route: OwnerRoute, init: { id?: string; query?: ListQuery; body?: unknown; onResponse?: (r: Response) => void } = {}): Promise<T> {
    const url = routeUrl(base, route, init.id, init.query);
    const headers: Record<string, string> = { authorization: `Bearer ${options.token}`, accept: "application/json" };
    if (init.body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await fetch(url, {
        method: OWNER_ROUTES[route].method,
        headers,
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
        redirect: "error",
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new CliError(`could not reach the server at ${base.href} (${networkReason(error)})`, 1, { cause: error });
    }
    init.onResponse?.(response);
    const text = await response.text();
    let json: unknown;
    try {
      json = text === "" ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (response.ok && json !== undefined) return json as T;
    const body = json as { error?: unknown; error_description?: unknown } | undefined;
    if (!response.ok && typeof body?.error === "string") {
      const description = typeof body.error_description === "string" ? body.error_description : `HTTP ${response.status}`;
      throw new CliError(description, 1, { serverCode: body.error });
    }
    throw new CliError(`the server at ${base.href} answered HTTP ${response.status} without the JSON an indiepm server sends; is --server right?`);
  }

  return {
    server: base.href,
    send: (input) => call<SendAnswer>("send", { body: input }),
    getMessage: (id) => call<MessageLookup>("getMessage", { id }),
    deleteMessage: async (id) => (await call<{ deleted: number }>("deleteMessage", { id })).deleted,
    inbox: (query) => call<ReceivedMessage[]>("inbox", query ? { query } : {}),
    outbox: (query) => call<SentMessage[]>("outbox", query ? { query } : {}),
    inboxPage: (query) => page<ReceivedMessage>("inbox", query),
    outboxPage: (query) => page<SentMessage>("outbox", query),
    tokens: (query) => call<GrantedToken[]>("tokens", query ? { query } : {}),
    async revokeToken(id) {
      await call<unknown>("revokeToken", { id });
    },
  };
}
