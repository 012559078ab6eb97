/**
 * A loopback Microsub channel for tests and demos (issue 13), following the channel
 * contract of Aperture (its MicropubController, VerifyChannelApiKey and IndieAuthController)
 * and Ekster: a channel has a profile URL (`/channel`) advertising its own
 * `authorization_endpoint`, `token_endpoint` and `micropub`; the authorization endpoint
 * takes only requests asking for `create` and issues a code for the channel (auto-approved,
 * or by a button); the token endpoint redeems it for a channel token with scope `create`
 * and `me` the channel's profile URL (PKCE S256 checked when the request had a challenge;
 * Aperture has none), and verifies a token by `GET` with the bearer. The Micropub endpoint
 * takes `application/jf2+json` as the entry itself, form-encoded and JSON (mf2) Micropub
 * requests converted to jf2, with `Authorization: Bearer` a channel token or an API key:
 * none → 401, an unknown one → 403 (Aperture). An entry whose `url` is already in the
 * channel replaces it (Aperture keys entries by `url`), so `entries()` holds one per `url`;
 * `posts()` counts every POST taken. `stop()` and `start()` close and listen again on the
 * same port; `hang(true)` leaves Micropub requests unanswered.
 *
 * It checks no password: anyone who reaches it may authorize. Tests and demos only.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { closeServer, listenLoopback } from "./loopback.js";

export interface MicrosubReceiverOptions {
  /** Port on 127.0.0.1 (default 0: any free one). */
  port?: number;
  /** Approve authorization requests at once, without the page. */
  autoApprove?: boolean;
  /** API keys taken as they are (Aperture's channel "API key"). */
  apiKeys?: string[];
  /** The channel's name, shown on its pages. */
  channel?: string;
}

/** One entry in the channel, as jf2. */
export interface ReceivedEntry {
  entry: Record<string, unknown>;
  /** The request's media type (`application/jf2+json`, form, JSON). */
  contentType: string;
  /** The bearer it came with. */
  token: string;
  /** Times a POST named this entry's `url` (1, or more when it was replaced). */
  posts: number;
  at: number;
}

export interface MicrosubReceiver {
  /** Its base URL. */
  readonly url: string;
  /** The channel's profile URL: what the owner enters, and the `me` of its tokens. */
  readonly profileUrl: string;
  readonly micropubUrl: string;
  readonly authorizationEndpoint: string;
  readonly tokenEndpoint: string;
  /** The channel's entries, in the order they first arrived. */
  entries(): ReceivedEntry[];
  /** Every Micropub POST taken (201), replaced entries included. */
  posts(): number;
  /** Every Micropub POST seen, refused ones included, with its status (0: left unanswered). */
  requests(): { status: number; contentType: string; at: number }[];
  /** Channel tokens issued by the token endpoint. */
  tokens(): string[];
  /** A key or token is refused from now on (403, as Aperture answers an unknown one). */
  revoke(token: string): void;
  addApiKey(key: string): void;
  /** While `true`, Micropub requests are read and never answered. */
  hang(on: boolean): void;
  /** Until called again without one, every Micropub POST is answered `status` (a channel refusing or failing), nothing recorded. */
  answerWith(status?: number): void;
  /** Stops listening (open connections closed); the port is kept for `start`. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

const MAX_BODY = 1024 * 1024;
const CODE_LIFETIME_MS = 60_000;
const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
const pkceChallenge = (verifier: string) => createHash("sha256").update(verifier, "ascii").digest("base64url");
const same = (a: string, b: string) => timingSafeEqual(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest());

interface Code {
  clientId: string;
  redirectUri: string;
  challenge?: string;
  scope: string;
  expiresAt: number;
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string>): void {
  res.writeHead(status, { "cache-control": "no-store", ...headers });
  res.end(body);
}
const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
  send(res, status, JSON.stringify(body), { "content-type": "application/json", ...headers });

function page(res: ServerResponse, status: number, title: string, body: string, formTarget?: string, head = ""): void {
  send(
    res,
    status,
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(title)}</title>${head}</head><body><main>${body}</main></body></html>`,
    {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": `default-src 'none'; form-action 'self'${formTarget ? ` ${formTarget}` : ""}; frame-ancestors 'none'; base-uri 'none'`,
    },
  );
}

async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** mf2 `{type: ["h-entry"], properties: {content: [...]}}` or a form's fields, as jf2 (single values unwrapped). */
function toJf2(type: string, properties: Record<string, unknown[]>): Record<string, unknown> {
  const entry: Record<string, unknown> = { type: type.replace(/^h-/, "") };
  for (const [name, values] of Object.entries(properties)) {
    const list = values.map((v) => (name === "content" && typeof v === "string" ? { text: v } : v));
    entry[name] = list.length === 1 ? list[0] : list;
  }
  return entry;
}

/** Parses a Micropub POST as Aperture does: jf2 as is, else form or JSON Micropub. An error sentence when it is none. */
function entryOf(contentType: string, body: string): { entry: Record<string, unknown> } | { error: string } {
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  try {
    if (type === "application/jf2+json") {
      const item = JSON.parse(body) as unknown;
      if (!item || typeof item !== "object" || Array.isArray(item) || typeof (item as { type?: unknown }).type !== "string")
        return { error: "The jf2 input was invalid" };
      return { entry: item as Record<string, unknown> };
    }
    if (type === "application/json") {
      const mf2 = JSON.parse(body) as { type?: unknown; properties?: unknown };
      if (!Array.isArray(mf2.type) || typeof mf2.type[0] !== "string" || !mf2.properties || typeof mf2.properties !== "object")
        return { error: "The JSON is not a Micropub create request" };
      return { entry: toJf2(mf2.type[0], mf2.properties as Record<string, unknown[]>) };
    }
    if (type === "application/x-www-form-urlencoded") {
      const form = new URLSearchParams(body);
      const properties: Record<string, unknown[]> = {};
      for (const [key, value] of form) {
        if (key === "h" || key === "access_token" || key.startsWith("mp-")) continue;
        const name = key.replace(/\[\]$/, "");
        properties[name] = [...(properties[name] ?? []), value];
      }
      return { entry: toJf2(`h-${form.get("h") ?? "entry"}`, properties) };
    }
  } catch {
    return { error: "The body is not valid JSON" };
  }
  return { error: `Unsupported content type ${type || "(none)"}` };
}

export async function startMicrosubReceiver(options: MicrosubReceiverOptions = {}): Promise<MicrosubReceiver> {
  const channel = options.channel ?? "Private messages";
  const codes = new Map<string, Code>();
  const issued = new Set<string>();
  const apiKeys = new Set(options.apiKeys ?? []);
  const revoked = new Set<string>();
  const entries = new Map<string, ReceivedEntry>();
  const requests: { status: number; contentType: string; at: number }[] = [];
  let posts = 0;
  let hanging = false;
  let forced: number | undefined;
  const held = new Set<ServerResponse>();

  let server: Server = createServer();
  const url = await listenLoopback(server, options.port ?? 0);
  const port = Number(new URL(url).port);
  const profileUrl = `${url}channel`;
  const micropubUrl = `${url}micropub`;
  const authorizationEndpoint = `${url}auth`;
  const tokenEndpoint = `${url}token`;

  const known = (token: string) => !revoked.has(token) && (issued.has(token) || apiKeys.has(token));
  const bearerOf = (req: IncomingMessage) => /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "")?.[1];

  function approve(res: ServerResponse, params: URLSearchParams): void {
    const code = randomBytes(32).toString("base64url");
    codes.set(code, {
      clientId: params.get("client_id")!,
      redirectUri: params.get("redirect_uri")!,
      ...(params.get("code_challenge") ? { challenge: params.get("code_challenge")! } : {}),
      scope: params.get("scope") ?? "",
      expiresAt: Date.now() + CODE_LIFETIME_MS,
    });
    const target = new URL(params.get("redirect_uri")!);
    target.searchParams.set("code", code);
    if (params.get("state")) target.searchParams.set("state", params.get("state")!);
    res.writeHead(302, { location: target.href, "cache-control": "no-store" });
    res.end();
  }

  /** Aperture's checks of an authorization request: client_id and redirect_uri URLs, response_type code, a scope with create. */
  function authorizationError(params: URLSearchParams): string | undefined {
    if (!URL.canParse(params.get("client_id") ?? "")) return "client_id must be a URL.";
    if (!URL.canParse(params.get("redirect_uri") ?? "")) return "redirect_uri must be a URL.";
    if (params.get("response_type") !== "code") return "This channel can only be used by apps that post to it (response_type=code).";
    if (!(params.get("scope") ?? "").split(/\s+/).some((s) => s === "create" || s === "post")) return "This channel only grants the create scope.";
    const method = params.get("code_challenge_method");
    if (params.get("code_challenge") && method !== "S256") return "code_challenge_method must be S256.";
    return undefined;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const here = new URL(req.url ?? "/", url);
    const method = req.method ?? "GET";
    if (here.pathname === "/channel" && method === "GET") {
      const links = `<${authorizationEndpoint}>; rel="authorization_endpoint", <${tokenEndpoint}>; rel="token_endpoint", <${micropubUrl}>; rel="micropub"`;
      res.setHeader("link", links);
      const head = `<link rel="authorization_endpoint" href="${esc(authorizationEndpoint)}"><link rel="token_endpoint" href="${esc(tokenEndpoint)}"><link rel="micropub" href="${esc(micropubUrl)}">`;
      return page(res, 200, channel, `<h1>${esc(channel)}</h1><p>A Microsub channel. Apps signed in with this address post into it.</p>`, undefined, head);
    }
    if (here.pathname === "/auth" && method === "GET") {
      const why = authorizationError(here.searchParams);
      if (why) return page(res, 400, "Cannot authorize", `<h1>Cannot authorize</h1><p>${esc(why)}</p>`);
      if (options.autoApprove) return approve(res, here.searchParams);
      const hidden = [...here.searchParams].map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join("");
      return page(
        res,
        200,
        `Authorize posting to ${channel}`,
        `<h1>Authorize posting to ${esc(channel)}</h1><p>${esc(here.searchParams.get("client_id")!)} asks to post entries into this channel (scope create).</p><form method="post" action="/auth">${hidden}<button type="submit">Approve</button></form>`,
        new URL(here.searchParams.get("redirect_uri")!).origin,
      );
    }
    if (here.pathname === "/auth" && method === "POST") {
      const params = new URLSearchParams((await readBody(req)) ?? "");
      const why = authorizationError(params);
      if (why) return page(res, 400, "Cannot authorize", `<h1>Cannot authorize</h1><p>${esc(why)}</p>`);
      return approve(res, params);
    }
    if (here.pathname === "/token" && method === "POST") {
      const params = new URLSearchParams((await readBody(req)) ?? "");
      const code = codes.get(params.get("code") ?? "");
      codes.delete(params.get("code") ?? "");
      if (!code || code.expiresAt < Date.now())
        return sendJson(res, 400, { error: "invalid_grant", error_description: "The authorization code provided was invalid" });
      if (params.get("grant_type") !== null && params.get("grant_type") !== "authorization_code")
        return sendJson(res, 400, { error: "unsupported_grant_type", error_description: "Only authorization_code." });
      if (code.clientId !== params.get("client_id") || code.redirectUri !== params.get("redirect_uri"))
        return sendJson(res, 400, { error: "invalid_request", error_description: "client_id or redirect_uri differs from the authorization request" });
      if (code.challenge && !same(pkceChallenge(params.get("code_verifier") ?? ""), code.challenge))
        return sendJson(res, 400, { error: "invalid_grant", error_description: "The code_verifier does not match the code_challenge" });
      const token = randomBytes(24).toString("base64url");
      issued.add(token);
      return sendJson(res, 200, { access_token: token, token_type: "Bearer", scope: "create", me: profileUrl });
    }
    if (here.pathname === "/token" && method === "GET") {
      const token = bearerOf(req);
      if (!token) return sendJson(res, 401, { error: "unauthorized" });
      if (!known(token)) return sendJson(res, 403, { error: "forbidden" });
      return sendJson(res, 200, { me: profileUrl, scope: "create" });
    }
    if (here.pathname === "/micropub" && method === "GET") {
      if (here.searchParams.get("q") === "config") return sendJson(res, 200, {});
      return sendJson(res, 400, { error: "invalid_request" });
    }
    if (here.pathname === "/micropub" && method === "POST") {
      const contentType = req.headers["content-type"] ?? "";
      const seen = { status: 0, contentType, at: Date.now() };
      requests.push(seen);
      const body = await readBody(req);
      if (hanging) {
        held.add(res);
        res.on("close", () => held.delete(res));
        return;
      }
      const answer = (status: number, json: unknown, headers: Record<string, string> = {}) => {
        seen.status = status;
        sendJson(res, status, json, headers);
      };
      if (forced !== undefined) return answer(forced, { error: forced === 401 ? "unauthorized" : forced === 403 ? "forbidden" : "server_error" });
      if (body === undefined) return answer(413, { error: "invalid_request", error_description: "Too large" });
      // Aperture: the header only; a form's access_token as Micropub §5.2 allows, too.
      const token = bearerOf(req) ?? (contentType.startsWith("application/x-www-form-urlencoded") ? new URLSearchParams(body).get("access_token") : null);
      if (!token) return answer(401, { error: "unauthorized" });
      if (!known(token)) return answer(403, { error: "forbidden" });
      const parsed = entryOf(contentType, body);
      if ("error" in parsed) return answer(400, { error: "invalid_input", error_description: parsed.error });
      const key = typeof parsed.entry.url === "string" ? parsed.entry.url : randomBytes(16).toString("hex");
      const before = entries.get(key);
      entries.set(key, { entry: parsed.entry, contentType, token, posts: (before?.posts ?? 0) + 1, at: before?.at ?? Date.now() });
      posts += 1;
      const location = `${url}entry/${createHash("md5").update(key).digest("hex")}`;
      return answer(201, { url: location }, { location });
    }
    return page(res, 404, "Not found", "<h1>Not found</h1>");
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: "server_error", error_description: String(error) });
    });
  };
  server.on("request", listener);
  let running = true;

  async function stop(): Promise<void> {
    if (!running) return;
    running = false;
    for (const res of held) res.destroy();
    held.clear();
    await closeServer(server);
  }

  return {
    url,
    profileUrl,
    micropubUrl,
    authorizationEndpoint,
    tokenEndpoint,
    entries: () => [...entries.values()],
    posts: () => posts,
    requests: () => [...requests],
    tokens: () => [...issued],
    revoke: (token) => void revoked.add(token),
    addApiKey: (key) => void apiKeys.add(key),
    hang: (on) => {
      hanging = on;
    },
    answerWith: (status) => {
      forced = status;
    },
    stop,
    async start() {
      if (running) return;
      server = createServer(listener);
      await listenLoopback(server, port);
      running = true;
    },
    close: stop,
  };
}
