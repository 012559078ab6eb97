/**
 * A small IndieAuth authorization server for demos and tests, on loopback: it serves the
 * metadata document (IndieAuth §4.1.1), an authorization page where whoever holds the
 * browser approves a sign-in as one of the sites it was given (§5.2: PKCE S256 required,
 * `state` and `iss` returned, the `scope` asked shown), redeems codes for the profile URL
 * (§5.3.2) and, when a scope was asked, for an access token at its token endpoint
 * (§5.3.3). Its token endpoint also answers a GET with `Authorization: Bearer` with the
 * token's `{ me, client_id, scope }` (the verification Micropub endpoints use), and
 * tokens are revoked at its revocation endpoint (§7.1) or with `revoke(token)`.
 *
 * Micropub clients written before PKCE (micropub-helper 1.6) send no `code_challenge`
 * and sign in with a `me` that is not a site (a DM profile URL): with `legacyClients`,
 * such a request is accepted and its code redeemed without a verifier; a `me` hint that
 * is not one of its sites lets the page offer all of them.
 *
 * It checks no password: anyone who reaches it may sign in as its sites. It is for
 * `pnpm demo` and the browser tests, never for a site on the internet. A site names it
 * with `Link: <METADATA>; rel="indieauth-metadata"` (the `linkHeader` it gives) or the
 * equivalent `<link>` elements.
 *
 * It lives in the private test-support package so that no shipped package exports a
 * no-password sign-in, and it shares no code with `@indiepm/web`: the inbox's PKCE and
 * escaping are checked against an independent implementation.
 */
import { createServer, type Server } from "node:http";
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { sendWebResponse, toWebRequest } from "@indiepm/core/node";
import { closeServer, listenLoopback } from "./loopback.js";

export interface DevAuthorizationServerOptions {
  /** Profile URLs it signs in (canonical). */
  sites: string[];
  /** Port on 127.0.0.1 (default 0: any free one). */
  port?: number;
  /**
   * Approve at once, without the page (tests of the flow that need no clicking): as the
   * `me` hint when it is one of its sites; for a hint that is not (a DM profile URL,
   * `…/me/<slug>/`), the site whose slug — host with `.` → `-`, `-port`, `-path` — is in
   * it, else the first site.
   */
  autoApprove?: boolean;
  /** Accept authorization requests without PKCE (micropub-helper 1.6): their codes are redeemed without a verifier. */
  legacyClients?: boolean;
}

export interface DevAuthorizationServer {
  /** Its base URL: the issuer. */
  readonly url: string;
  readonly metadataUrl: string;
  readonly authorizationEndpoint: string;
  /** IndieAuth §5.3.3 (POST: code → access token) and the token check (GET with Bearer). */
  readonly tokenEndpoint: string;
  /** IndieAuth §7.1 (POST `token=…`). */
  readonly revocationEndpoint: string;
  /** `Link` header value naming it for a site (rel=indieauth-metadata, rel=authorization_endpoint, rel=token_endpoint). */
  readonly linkHeader: string;
  /** The same as `<link>` elements for a page's head. */
  readonly linkElements: string;
  /** Sites it signs in; may be changed. */
  sites: string[];
  /** An access token issued at once, without the browser (tests). */
  issueToken(p: { me: string; scope: string; clientId?: string }): string;
  /** Revokes an access token: the token endpoint no longer knows it. */
  revoke(token: string): void;
  /** Requests its token endpoint answered (GET checks and POST redemptions), for tests that count them. */
  readonly tokenRequests: number;
  /**
   * What a person does at its approve page, without a browser: reads the page an app sent
   * them to (`authorizationUrl`), approves as `me`, and resolves where the server sends the
   * browser back (the app's redirect URI with `code`, `state`, `iss`).
   */
  approveAs(authorizationUrl: string, me: string): Promise<URL>;
  close(): Promise<void>;
}

class Html {
  constructor(readonly value: string) {}
}
const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
type Part = Html | string | readonly Part[];
const render = (part: Part): string =>
  part instanceof Html ? part.value : Array.isArray(part) ? part.map(render).join("") : String(part).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
/** Every value escaped unless it is itself `Html`. */
function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  return new Html(strings.reduce((out, text, i) => out + render(values[i - 1]!) + text));
}

/** RFC 7636 §4.2: S256. */
const pkceChallenge = (verifier: string) => createHash("sha256").update(verifier, "ascii").digest("base64url");
/** Constant-time comparison (of SHA-256 digests, so lengths leak nothing). */
const sameSecret = (a: string, b: string) => timingSafeEqual(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest());

interface Code {
  clientId: string;
  redirectUri: string;
  /** Absent only for a legacy client (no PKCE). */
  challenge: string | undefined;
  me: string;
  /** The scope asked for, space-separated; "" for sign-in only. */
  scope: string;
  expiresAt: number;
}

interface Token {
  me: string;
  scope: string;
  clientId: string;
}

const CODE_LIFETIME_MS = 60_000;
const MAX_TOKENS = 10_000;

/** The DM profile slug of a site, as indiepm makes it (written again here: this package shares no code with @indiepm/web). */
function profileSlug(site: string): string {
  const url = new URL(site);
  return (
    [url.hostname, url.port, url.pathname === "/" ? "" : url.pathname]
      .filter(Boolean)
      .join("-")
      .toLowerCase()
      .replace(/[^a-z0-9_-]+/g, "-")
      .replace(/-{2,}/g, "-")
      .replace(/^-|-$/g, "") || "site"
  );
}
/** The approve form redirects to the client: CSP form-action covers redirects, so its origin is allowed too. */
const pageCsp = (formTarget?: string) =>
  `default-src 'none'; style-src 'unsafe-inline'; form-action 'self'${formTarget ? ` ${formTarget}` : ""}; frame-ancestors 'none'; base-uri 'none'`;

function page(title: string, body: Html, status = 200, formTarget?: string): Response {
  const doc = html`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1c1c28}
h1{font-size:1.4rem}.box{border:1px solid #ccd;border-radius:.6rem;padding:1rem 1.25rem}
button{font:inherit;padding:.5rem 1.1rem;border-radius:.4rem;border:1px solid #3346c2;background:#3346c2;color:#fff;cursor:pointer;margin-right:.5rem}
button.no{background:#fff;color:#3346c2}label{display:block;margin:.4rem 0}small{color:#555}</style></head>
<body><main class="box">${body}</main></body></html>`;
  return new Response(doc.value, {
    status,
    headers: { "content-type": "text/html; charset=utf-8", "content-security-policy": pageCsp(formTarget), "cache-control": "no-store" },
  });
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" } });
}

function redirectTo(url: string): Response {
  return new Response(null, { status: 302, headers: { location: url, "cache-control": "no-store" } });
}

/** The request parameters of §5.2, checked; an error sentence when they are wrong. */
function authorizationRequest(
  params: URLSearchParams,
  legacyClients: boolean,
):
  | { ok: true; clientId: string; redirectUri: string; state: string; challenge: string | undefined; scope: string; me: string | null }
  | { ok: false; why: string } {
  const get = (name: string) => params.get(name) ?? "";
  if (get("response_type") !== "code") return { ok: false, why: "response_type must be code." };
  const clientId = get("client_id");
  const redirectUri = get("redirect_uri");
  if (!URL.canParse(clientId) || !URL.canParse(redirectUri)) return { ok: false, why: "client_id and redirect_uri must be URLs." };
  // §4.2.2: a redirect_uri on another origin than client_id would need the client's metadata; this one refuses it.
  if (new URL(clientId).origin !== new URL(redirectUri).origin) return { ok: false, why: "redirect_uri must be on the client_id's origin." };
  if (!get("state")) return { ok: false, why: "state is missing." };
  const legacy = legacyClients && !params.has("code_challenge") && !params.has("code_challenge_method");
  if (!legacy && (get("code_challenge_method") !== "S256" || !/^[A-Za-z0-9_-]{43}$/.test(get("code_challenge"))))
    return { ok: false, why: "PKCE with code_challenge_method=S256 is required." };
  const scope = get("scope").split(/\s+/).filter(Boolean).join(" ");
  if (scope.length > 1000) return { ok: false, why: "The scope is too long." };
  return {
    ok: true,
    clientId: new URL(clientId).href,
    redirectUri: new URL(redirectUri).href,
    state: get("state"),
    challenge: legacy ? undefined : get("code_challenge"),
    scope,
    me: params.get("me"),
  };
}

export async function startDevAuthorizationServer(options: DevAuthorizationServerOptions): Promise<DevAuthorizationServer> {
  const codes = new Map<string, Code>();
  const tokens = new Map<string, Token>();
  let tokenRequests = 0;
  const legacyClients = options.legacyClients ?? false;
  const httpServer: Server = createServer();
  const url = await listenLoopback(httpServer, options.port ?? 0);
  const metadataUrl = `${url}.well-known/oauth-authorization-server`;
  const authorizationEndpoint = `${url}auth`;
  const tokenEndpoint = `${url}token`;
  const revocationEndpoint = `${url}revoke`;
  const issue = (token: Token): string => {
    const accessToken = randomBytes(24).toString("base64url");
    if (tokens.size >= MAX_TOKENS) tokens.delete(tokens.keys().next().value!);
    tokens.set(accessToken, token);
    return accessToken;
  };
  const self: DevAuthorizationServer = {
    url,
    metadataUrl,
    authorizationEndpoint,
    tokenEndpoint,
    revocationEndpoint,
    linkHeader: `<${metadataUrl}>; rel="indieauth-metadata", <${authorizationEndpoint}>; rel="authorization_endpoint", <${tokenEndpoint}>; rel="token_endpoint"`,
    linkElements: `<link rel="indieauth-metadata" href="${metadataUrl}"><link rel="authorization_endpoint" href="${authorizationEndpoint}"><link rel="token_endpoint" href="${tokenEndpoint}">`,
    sites: options.sites.map((s) => new URL(s).href),
    issueToken: (p) => issue({ me: new URL(p.me).href, scope: p.scope, clientId: p.clientId ?? "https://client.example/" }),
    revoke: (token) => void tokens.delete(token),
    get tokenRequests() {
      return tokenRequests;
    },
    async approveAs(authorizationUrl, me) {
      const page = await (await fetch(authorizationUrl)).text();
      const fields = Object.fromEntries(
        [...page.matchAll(/<input type="(?:hidden|radio)" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, m[2]!.replace(/&amp;/g, "&")]),
      );
      const back = await fetch(`${url}auth/approve`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", origin: new URL(url).origin, "sec-fetch-site": "same-origin" },
        body: new URLSearchParams({ ...fields, me, decision: "approve" }),
        redirect: "manual",
      });
      return new URL(back.headers.get("location") ?? "", url);
    },
    close: () => closeServer(httpServer),
  };

  const approve = (req: { clientId: string; redirectUri: string; state: string; challenge: string | undefined; scope: string }, me: string): Response => {
    const code = randomBytes(24).toString("base64url");
    codes.set(code, {
      clientId: req.clientId,
      redirectUri: req.redirectUri,
      challenge: req.challenge,
      me,
      scope: req.scope,
      expiresAt: Date.now() + CODE_LIFETIME_MS,
    });
    const back = new URL(req.redirectUri);
    back.searchParams.set("code", code);
    back.searchParams.set("state", req.state);
    back.searchParams.set("iss", url);
    return redirectTo(back.href);
  };

  async function handle(request: Request): Promise<Response> {
    const { pathname, searchParams } = new URL(request.url);
    // Browsers ask every origin for an icon; "none" is an answer, a 404 is a console error.
    if (pathname === "/favicon.ico") return new Response(null, { status: 204 });
    if (pathname === "/.well-known/oauth-authorization-server" && request.method === "GET") {
      return json({
        issuer: url,
        authorization_endpoint: authorizationEndpoint,
        token_endpoint: tokenEndpoint,
        revocation_endpoint: revocationEndpoint,
        revocation_endpoint_auth_methods_supported: ["none"],
        scopes_supported: ["create", "profile", "email"],
        response_types_supported: ["code"],
        grant_types_supported: ["authorization_code"],
        code_challenge_methods_supported: ["S256"],
        authorization_response_iss_parameter_supported: true,
      });
    }
    if (pathname === "/auth" && request.method === "GET") {
      const req = authorizationRequest(searchParams, legacyClients);
      if (!req.ok) return page("Sign-in refused", html`<h1>Sign-in refused</h1><p>${req.why}</p>`, 400);
      const hinted = req.me && URL.canParse(req.me) ? new URL(req.me).href : undefined;
      if (options.autoApprove && hinted && self.sites.includes(hinted)) return approve(req, hinted);
      if (options.autoApprove && hinted && self.sites.length > 0) {
        // A DM profile URL (…/me/<slug>/): the site it is the profile of, else the first.
        const path = new URL(hinted).pathname;
        return approve(req, self.sites.find((s) => path.includes(`/me/${profileSlug(s)}/`)) ?? self.sites[0]!);
      }
      const choices = hinted && self.sites.includes(hinted) ? [hinted] : self.sites;
      const hidden = (["response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method", "scope"] as const)
        .filter((n) => searchParams.has(n))
        .map((n) => html`<input type="hidden" name="${n}" value="${searchParams.get(n) ?? ""}">`);
      const scopes = req.scope.split(" ").filter(Boolean);
      return page(
        "Sign in",
        html`<h1>Sign in to ${new URL(req.clientId).host}?</h1>
<p><small>Development authorization server: it signs in whoever is at this browser, no password. For demos and tests only.</small></p>
${scopes.length > 0 ? html`<p>It asks for an access token that allows: <strong class="scope">${scopes.join(", ")}</strong>.</p>` : ""}
<form method="post" action="/auth/approve">${hidden}
<fieldset style="border:0;padding:0"><legend>Sign in as</legend>
${choices.map((s, i) => html`<label><input type="radio" name="me" value="${s}"${i === 0 ? " checked" : ""}> ${s}</label>`)}
</fieldset>
<p><button type="submit" name="decision" value="approve">Approve</button><button class="no" type="submit" name="decision" value="deny">Deny</button></p>
</form>`,
        200,
        new URL(req.redirectUri).origin,
      );
    }
    if (pathname === "/auth/approve" && request.method === "POST") {
      const form = new URLSearchParams(await request.text());
      const req = authorizationRequest(form, legacyClients);
      if (!req.ok) return page("Sign-in refused", html`<h1>Sign-in refused</h1><p>${req.why}</p>`, 400);
      if (form.get("decision") !== "approve") {
        const back = new URL(req.redirectUri);
        back.searchParams.set("error", "access_denied");
        back.searchParams.set("state", req.state);
        back.searchParams.set("iss", url);
        return redirectTo(back.href);
      }
      const me = form.get("me") ?? "";
      if (!URL.canParse(me) || !self.sites.includes(new URL(me).href))
        return page("Sign-in refused", html`<h1>Sign-in refused</h1><p>This server signs in only ${self.sites.join(", ")}.</p>`, 400);
      return approve(req, new URL(me).href);
    }
    if ((pathname === "/auth" || pathname === "/token") && request.method === "POST") {
      // §5.3.2 at the authorization endpoint: the code for the profile URL; §5.3.3 at the token endpoint: for an access token.
      const form = new URLSearchParams(await request.text());
      if (pathname === "/token") {
        tokenRequests++;
        // The revocation of IndieAuth before §7.1: action=revoke at the token endpoint.
        if (form.get("action") === "revoke") {
          tokens.delete(form.get("token") ?? "");
          return json({});
        }
      }
      const code = codes.get(form.get("code") ?? "");
      codes.delete(form.get("code") ?? "");
      const bad = (description: string) => json({ error: "invalid_grant", error_description: description }, 400);
      if (form.get("grant_type") !== "authorization_code") return bad("grant_type must be authorization_code.");
      if (!code || code.expiresAt < Date.now()) return bad("The code is unknown, used or expired.");
      if (form.get("client_id") !== code.clientId || form.get("redirect_uri") !== code.redirectUri)
        return bad("client_id or redirect_uri differ from the request's.");
      if (code.challenge !== undefined) {
        const verifier = form.get("code_verifier") ?? "";
        if (!sameSecret(pkceChallenge(verifier), code.challenge)) return bad("The code_verifier does not match the code_challenge.");
      }
      if (pathname === "/auth") return json({ me: code.me });
      if (!code.scope) return bad("The authorization request asked for no scope, so its code gives no access token (IndieAuth §5.3.3).");
      const accessToken = issue({ me: code.me, scope: code.scope, clientId: code.clientId });
      return json({ access_token: accessToken, token_type: "Bearer", scope: code.scope, me: code.me });
    }
    if (pathname === "/token" && request.method === "GET") {
      // The token check of Micropub endpoints: who the token is for, and what it allows.
      tokenRequests++;
      const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.get("authorization") ?? "")?.[1] ?? "";
      const token = tokens.get(bearer);
      if (!token) return json({ error: "invalid_token", error_description: "The access token is unknown or revoked." }, 401);
      return json({ me: token.me, client_id: token.clientId, scope: token.scope });
    }
    if (pathname === "/revoke" && request.method === "POST") {
      // §7.1: always 200, whether the token was known or not.
      tokens.delete(new URLSearchParams(await request.text()).get("token") ?? "");
      return new Response(null, { status: 200 });
    }
    return page("Not found", html`<h1>Not found</h1>`, 404);
  }

  httpServer.on("request", (req, res) => {
    void (async () => {
      try {
        const request = await toWebRequest(req, { maxBodyBytes: 64 * 1024 });
        await sendWebResponse(res, await handle(request));
      } catch {
        if (!res.headersSent) res.writeHead(400).end();
        else res.destroy();
      }
    })();
  });
  return self;
}
