/**
 * A stand-in Ghost on loopback for fast tests: the Admin API calls setup makes, with
 * Ghost's authentication and answers as a real Ghost 5.130 gives them (checked by
 * test/ghost/real-ghost.test.ts), and pages that print `codeinjection_head` the way
 * `{{ghost_head}}` does.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { closeServer, listenLoopback } from "@indiepm/test-support";

export interface FakeKey {
  id: string;
  secret: string;
  /** `staff`: a staff access token; `integration`: a custom integration's Admin API key. */
  kind: "staff" | "integration";
  /** The staff user's role (Ghost: Owner, Administrator, Editor, Author, Contributor). */
  role?: string;
}

export interface FakeGhost {
  url: string;
  server: Server;
  /** The stored site-wide code injection. */
  codeInjectionHead: string | null;
  /** How the theme prints pages: with `{{ghost_head}}`, without it, or with a pm link of its own first. */
  theme: "default" | "no-ghost-head" | "own-pm-link";
  /** Requests seen, `METHOD /path`. */
  requests: string[];
  /** `Accept-Version` headers seen on the Admin API. */
  acceptVersions: string[];
  staffToken: string;
  integrationKey: string;
  editorToken: string;
  close(): Promise<void>;
}

function hex(bytes: number): string {
  return Array.from({ length: bytes }, () =>
    Math.floor(Math.random() * 256)
      .toString(16)
      .padStart(2, "0"),
  ).join("");
}

function newKey(kind: FakeKey["kind"], role?: string): FakeKey {
  return { id: hex(12), secret: hex(32), kind, ...(role ? { role } : {}) };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader("content-type", "application/json; charset=utf-8");
  res.end(JSON.stringify(body));
}

function ghostError(res: ServerResponse, status: number, type: string, message: string, context: string | null = null): void {
  json(res, status, { errors: [{ message, context, type, details: null, property: null, help: null, code: null, id: "e" }] });
}

function decodePart(part: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** Ghost's admin API-key authentication (services/auth/api-key/admin.js), the parts setup meets. */
function authenticate(req: IncomingMessage, keys: Map<string, FakeKey>): FakeKey | { status: number; type: string; message: string } {
  const header = req.headers.authorization ?? "";
  const [scheme, token] = header.split(" ");
  if (!/^Ghost$/i.test(scheme ?? "") || !token)
    return { status: 401, type: "UnauthorizedError", message: 'Authorization header format is "Authorization: Ghost [token]"' };
  const [h, p, s] = token.split(".");
  const head = decodePart(h ?? "");
  const payload = decodePart(p ?? "");
  if (!head || !payload || !s) return { status: 400, type: "BadRequestError", message: "Invalid token" };
  const key = typeof head.kid === "string" ? keys.get(head.kid) : undefined;
  if (!key) return { status: 401, type: "UnauthorizedError", message: "Unknown Admin API Key" };
  const expected = createHmac("sha256", Buffer.from(key.secret, "hex")).update(`${h}.${p}`).digest();
  const given = Buffer.from(s, "base64url");
  const now = Math.floor(Date.now() / 1000);
  if (head.alg !== "HS256" || given.length !== expected.length || !timingSafeEqual(given, expected))
    return { status: 401, type: "UnauthorizedError", message: "Invalid token: invalid signature" };
  if (payload.aud !== "/admin/") return { status: 401, type: "UnauthorizedError", message: "Invalid token: jwt audience invalid. expected: /?admin/?$/" };
  if (typeof payload.iat !== "number" || typeof payload.exp !== "number" || payload.exp < now || now - payload.iat > 300)
    return { status: 401, type: "UnauthorizedError", message: "Invalid token: maxAge exceeded" };
  return key;
}

async function body(req: IncomingMessage): Promise<string> {
  let text = "";
  for await (const chunk of req) text += (chunk as Buffer).toString();
  return text;
}

/** Starts the stand-in. `codeInjectionHead` is the site header as the owner left it. */
export async function startFakeGhost(options: { codeInjectionHead?: string | null } = {}): Promise<FakeGhost> {
  const staff = newKey("staff", "Administrator");
  const integration = newKey("integration");
  const editor = newKey("staff", "Editor");
  const keys = new Map([staff, integration, editor].map((key) => [key.id, key]));
  const state = {
    codeInjectionHead: options.codeInjectionHead === undefined ? null : options.codeInjectionHead,
    requests: [] as string[],
    acceptVersions: [] as string[],
    theme: "default" as FakeGhost["theme"],
  };

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? "/", "http://ghost.invalid");
      state.requests.push(`${req.method} ${url.pathname}`);
      if (!url.pathname.startsWith("/ghost/api/admin/")) {
        // A page: {{ghost_head}} prints Ghost's own links, then the site header code injection.
        if (url.pathname !== "/" && url.pathname !== "/hello-world/") return void ((res.statusCode = 404), res.end());
        res.setHeader("content-type", "text/html; charset=utf-8");
        const themeLink = state.theme === "own-pm-link" ? `<link rel="pm" href="https://theme.example/pm/">\n` : "";
        const ghostHead =
          state.theme === "no-ghost-head"
            ? ""
            : `<link rel="canonical" href="${ghost.url}">
<link rel="webmention" href="${ghost.url}webmentions/receive/">
${state.codeInjectionHead ?? ""}`;
        res.end(`<!DOCTYPE html><html><head><title>Fake Ghost</title>\n${themeLink}${ghostHead}\n</head><body><h1>Fake Ghost</h1></body></html>`);
        return;
      }
      state.acceptVersions.push(String(req.headers["accept-version"] ?? ""));
      const who = authenticate(req, keys);
      if (!("id" in who)) return ghostError(res, who.status, who.type, who.message);
      const route = `${req.method} ${url.pathname.slice("/ghost/api/admin".length)}`;
      switch (route) {
        case "GET /users/me/":
          // An integration's key has no user: Ghost cannot resolve "me".
          if (who.kind === "integration") return ghostError(res, 404, "NotFoundError", "Resource not found error, cannot read user.", "User not found.");
          return json(res, 200, { users: [{ id: "1", name: "Ghost Owner", email: "owner@example.com", roles: [{ name: who.role }] }] });
        case "GET /settings/":
          return json(res, 200, {
            settings: [
              { key: "title", value: "Fake Ghost" },
              { key: "codeinjection_head", value: state.codeInjectionHead },
            ],
            meta: {},
          });
        case "PUT /settings/": {
          if (who.kind === "integration")
            return ghostError(res, 501, "NotImplementedError", "The server does not support the functionality required to fulfill the request.");
          if (who.role !== "Administrator" && who.role !== "Owner")
            return ghostError(res, 403, "NoPermissionError", "You do not have permission to edit settings");
          const sent = JSON.parse(await body(req)) as { settings: Array<{ key: string; value: unknown }> };
          for (const setting of sent.settings) if (setting.key === "codeinjection_head") state.codeInjectionHead = setting.value as string | null;
          return json(res, 200, {
            settings: [
              { key: "title", value: "Fake Ghost" },
              { key: "codeinjection_head", value: state.codeInjectionHead },
            ],
            meta: {},
          });
        }
        default:
          return ghostError(res, 404, "NotFoundError", "Resource not found");
      }
    })();
  });
  const url = await listenLoopback(server);
  const tokenOf = (key: FakeKey) => `${key.id}:${key.secret}`;
  const ghost: FakeGhost = {
    url,
    server,
    get codeInjectionHead() {
      return state.codeInjectionHead;
    },
    set codeInjectionHead(value) {
      state.codeInjectionHead = value;
    },
    get theme() {
      return state.theme;
    },
    set theme(value) {
      state.theme = value;
    },
    requests: state.requests,
    acceptVersions: state.acceptVersions,
    staffToken: tokenOf(staff),
    integrationKey: tokenOf(integration),
    editorToken: tokenOf(editor),
    close: () => closeServer(server),
  };
  return ghost;
}
