/**
 * Issue 13: a Micropub app's access token is checked as IndieAuth says — at the token
 * endpoint the site itself names, the `me` it answers must be that site, the scope must
 * include the one asked — against real loopback servers: a site whose page names a dev
 * IndieAuth server (packages/test-support), and that server's token endpoint.
 */
import { createServer, type Server } from "node:http";
import { createHttpClient, type ClosableHttpClient } from "@indiepm/core";
import { closedPort, closeServer, listenLoopback, startDevAuthorizationServer, startLoopbackServer, type DevAuthorizationServer } from "@indiepm/test-support";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { createSiteDiscovery, DISCOVERY_DEFAULTS } from "../src/micropub/discovery.js";
import { createTokenVerifier, processTokenAnswer, scopeIncludes, TOKEN_CACHE_DEFAULTS } from "../src/micropub/tokens.js";
import { pkcePair } from "../src/indieauth.js";

let http: ClosableHttpClient;
let siteServer: Server;
let site: string;
/** The `Link` header the site's page sends: change it to point the site elsewhere. */
let siteLinks: string;
let auth: DevAuthorizationServer;
let otherAuth: DevAuthorizationServer;
const other = "https://someone-else.example/";
let clock = 1_000_000;
const now = () => clock;

beforeAll(async () => {
  http = createHttpClient({ dev: true });
  siteServer = createServer((_req, res) => {
    res.setHeader("content-type", "text/html; charset=utf-8");
    if (siteLinks) res.setHeader("link", siteLinks);
    res.end("<!doctype html><title>Home</title><h1>Home</h1>");
  });
  site = await listenLoopback(siteServer);
  auth = await startDevAuthorizationServer({ sites: [site, other] });
  otherAuth = await startDevAuthorizationServer({ sites: [site] });
});

afterAll(async () => {
  await closeServer(siteServer);
  await auth.close();
  await otherAuth.close();
  await http.close();
});

beforeEach(() => {
  siteLinks = auth.linkHeader;
  clock = 1_000_000;
});

const verifier = (extra: Partial<Parameters<typeof createTokenVerifier>[0]> = {}) => createTokenVerifier({ http, policy: { dev: true }, now, ...extra });

describe("a token from the site's own IndieAuth", () => {
  it("with scope create, for this site: accepted, with who and what it allows", async () => {
    const token = auth.issueToken({ me: site, scope: "create media", clientId: "https://quill.p3k.io/" });
    expect(await verifier().verify(site, token, "create")).toEqual({
      ok: true,
      token: { me: site, scope: ["create", "media"], clientId: "https://quill.p3k.io/" },
    });
  });

  it("the site written without its final slash is the same site", async () => {
    const token = auth.issueToken({ me: site.replace(/\/$/, ""), scope: "create" });
    expect(await verifier().verify(site.replace(/\/$/, ""), token, "create")).toMatchObject({ ok: true, token: { me: site } });
  });

  it("the legacy scope post counts as create (as Indiekit takes it), nothing else does", async () => {
    expect(await verifier().verify(site, auth.issueToken({ me: site, scope: "post" }), "create")).toMatchObject({ ok: true });
    expect(scopeIncludes(["post"], "update")).toBe(false);
    expect(scopeIncludes(["created"], "create")).toBe(false);
  });

  it("found through the site's rel=token_endpoint when it has no metadata document", async () => {
    siteLinks = `<${auth.authorizationEndpoint}>; rel="authorization_endpoint", <${auth.tokenEndpoint}>; rel="token_endpoint"`;
    expect(await verifier().verify(site, auth.issueToken({ me: site, scope: "create" }), "create")).toMatchObject({ ok: true });
  });
});

describe("refused", () => {
  it("a token for another me: 403 forbidden, naming both", async () => {
    const token = auth.issueToken({ me: other, scope: "create" });
    const check = await verifier().verify(site, token, "create");
    expect(check).toMatchObject({ ok: false, status: 403, error: "forbidden" });
    expect(check.ok || check.description).toContain("someone-else.example");
  });

  it("a token without the create scope: 403 insufficient_scope, saying what it allows", async () => {
    const check = await verifier().verify(site, auth.issueToken({ me: site, scope: "profile email" }), "create");
    expect(check).toMatchObject({ ok: false, status: 403, error: "insufficient_scope" });
    expect(check.ok || check.description).toContain("profile email");
    expect(await verifier().verify(site, auth.issueToken({ me: site, scope: "" }), "create")).toMatchObject({ error: "insufficient_scope" });
  });

  it("an unknown token: 401", async () => {
    expect(await verifier().verify(site, "not-a-token-this-server-issued", "create")).toMatchObject({ ok: false, status: 401, error: "unauthorized" });
  });

  it("a revoked token: 401", async () => {
    const token = auth.issueToken({ me: site, scope: "create" });
    auth.revoke(token);
    expect(await verifier().verify(site, token, "create")).toMatchObject({ ok: false, status: 401, error: "unauthorized" });
  });

  it("a token issued by another server than the one the site names: 401 (asked where the site says)", async () => {
    const token = otherAuth.issueToken({ me: site, scope: "create" });
    expect(await verifier().verify(site, token, "create")).toMatchObject({ ok: false, status: 401 });
  });

  it.each([
    ["no token", undefined],
    ["an empty token", "  "],
    ["a token with spaces", "two words"],
    ["a token of 5,000 characters", "x".repeat(5000)],
  ])("%s: 401 without asking anyone", async (_, bearer) => {
    const before = auth.tokenRequests;
    expect(await verifier().verify(site, bearer, "create")).toMatchObject({ ok: false, status: 401, error: "unauthorized" });
    expect(auth.tokenRequests).toBe(before);
  });

  it("a site that names no token endpoint: 401 with a sentence", async () => {
    siteLinks = `<${auth.authorizationEndpoint}>; rel="authorization_endpoint"`;
    const check = await verifier().verify(site, auth.issueToken({ me: site, scope: "create" }), "create");
    expect(check).toMatchObject({ ok: false, status: 401 });
    expect(check.ok || check.description).toContain("names no token endpoint");
  });
});

describe("never ok when the check cannot be made: 503 temporarily_unavailable", () => {
  it("the token endpoint is down", async () => {
    const port = await closedPort();
    siteLinks = `<${auth.authorizationEndpoint}>; rel="authorization_endpoint", <http://127.0.0.1:${port}/token>; rel="token_endpoint"`;
    expect(await verifier().verify(site, auth.issueToken({ me: site, scope: "create" }), "create")).toMatchObject({
      ok: false,
      status: 503,
      error: "temporarily_unavailable",
    });
  });

  it("the token endpoint fails (500) or redirects", async () => {
    const failing = await startLoopbackServer((req, res) => {
      if (req.url === "/moved") return void res.writeHead(302, { location: auth.tokenEndpoint }).end();
      res.writeHead(500).end("{}");
    });
    try {
      for (const path of ["token", "moved"]) {
        siteLinks = `<${auth.authorizationEndpoint}>; rel="authorization_endpoint", <${failing.url}${path}>; rel="token_endpoint"`;
        expect(await verifier().verify(site, auth.issueToken({ me: site, scope: "create" }), "create")).toMatchObject({ status: 503 });
      }
    } finally {
      await failing.close();
    }
  });

  it("the site cannot be read", async () => {
    const port = await closedPort();
    expect(await verifier().verify(`http://127.0.0.1:${port}/`, "some-token", "create")).toMatchObject({ status: 503, error: "temporarily_unavailable" });
  });

  it("a down endpoint is asked again at the next request, and its yes then counts", async () => {
    const token = auth.issueToken({ me: site, scope: "create" });
    const port = await closedPort();
    siteLinks = `<${auth.authorizationEndpoint}>; rel="authorization_endpoint", <http://127.0.0.1:${port}/token>; rel="token_endpoint"`;
    const discovery = createSiteDiscovery({ http, policy: { dev: true }, now, ttlMs: 0 });
    const v = verifier({ discovery });
    expect(await v.verify(site, token, "create")).toMatchObject({ status: 503 });
    siteLinks = auth.linkHeader;
    expect(await v.verify(site, token, "create")).toMatchObject({ ok: true });
  });
});

describe("kept, bounded", () => {
  it("an accepted token is asked once per 2 minutes; a revocation counts after that", async () => {
    const v = verifier();
    const token = auth.issueToken({ me: site, scope: "create" });
    const before = auth.tokenRequests;
    expect(await v.verify(site, token, "create")).toMatchObject({ ok: true });
    expect(await v.verify(site, token, "create")).toMatchObject({ ok: true });
    expect(auth.tokenRequests).toBe(before + 1);
    auth.revoke(token);
    clock += TOKEN_CACHE_DEFAULTS.ttlMs - 1;
    expect(await v.verify(site, token, "create")).toMatchObject({ ok: true });
    clock += 2;
    expect(await v.verify(site, token, "create")).toMatchObject({ ok: false, status: 401 });
    expect(TOKEN_CACHE_DEFAULTS.ttlMs).toBeLessThanOrEqual(2 * 60_000);
  });

  it("a refusal is kept shorter (30 s)", async () => {
    const v = verifier();
    const before = auth.tokenRequests;
    await v.verify(site, "unknown-token", "create");
    await v.verify(site, "unknown-token", "create");
    expect(auth.tokenRequests).toBe(before + 1);
    clock += TOKEN_CACHE_DEFAULTS.refusalTtlMs + 1;
    await v.verify(site, "unknown-token", "create");
    expect(auth.tokenRequests).toBe(before + 2);
    expect(TOKEN_CACHE_DEFAULTS.refusalTtlMs).toBeLessThan(TOKEN_CACHE_DEFAULTS.ttlMs);
  });

  it("a burst of the same token makes one request", async () => {
    const v = verifier();
    const token = auth.issueToken({ me: site, scope: "create" });
    const before = auth.tokenRequests;
    const checks = await Promise.all(Array.from({ length: 20 }, () => v.verify(site, token, "create")));
    expect(checks.every((c) => c.ok)).toBe(true);
    expect(auth.tokenRequests).toBe(before + 1);
  });

  it("at most maxEntries tokens are kept (default 1,000): the oldest is dropped and asked again", async () => {
    expect(TOKEN_CACHE_DEFAULTS.maxEntries).toBe(1_000);
    const v = verifier({ maxEntries: 3 });
    const tokens = Array.from({ length: 4 }, () => auth.issueToken({ me: site, scope: "create" }));
    for (const t of tokens) await v.verify(site, t, "create");
    const before = auth.tokenRequests;
    await v.verify(site, tokens[3]!, "create");
    await v.verify(site, tokens[2]!, "create");
    await v.verify(site, tokens[1]!, "create");
    expect(auth.tokenRequests).toBe(before);
    await v.verify(site, tokens[0]!, "create");
    expect(auth.tokenRequests).toBe(before + 1);
  });

  it("1,100 different tokens: the cache never holds more than 1,000", async () => {
    const v = verifier();
    const first = auth.issueToken({ me: site, scope: "create" });
    await v.verify(site, first, "create");
    for (let i = 0; i < 1_100; i++) await v.verify(site, `unknown-${i}`, "create");
    const before = auth.tokenRequests;
    await v.verify(site, first, "create");
    expect(auth.tokenRequests).toBe(before + 1);
  });

  it("made-up tokens are asked about at most 8 at a time per site: the rest are 503 without asking, and the site is asked again once one ends", async () => {
    expect(TOKEN_CACHE_DEFAULTS.maxInFlight).toBe(8);
    // A token endpoint that holds every request until released, counting them.
    let asked = 0;
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow = await startLoopbackServer((_req, res) => {
      asked++;
      void released.then(() => res.writeHead(401, { "content-type": "application/json" }).end('{"error":"invalid_token"}'));
    });
    try {
      siteLinks = `<${auth.authorizationEndpoint}>; rel="authorization_endpoint", <${slow.url}token>; rel="token_endpoint"`;
      const v = verifier();
      const checks = Array.from({ length: 20 }, (_, i) => v.verify(site, `made-up-${i}`, "create"));
      const early = await Promise.all(checks.slice(8));
      expect(early.every((c) => !c.ok && c.status === 503 && c.error === "temporarily_unavailable")).toBe(true);
      // The first eight reach the token endpoint once the site's page is read; no ninth does.
      await vi.waitFor(() => expect(asked).toBe(8));
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(asked).toBe(8);
      release();
      const held = await Promise.all(checks.slice(0, 8));
      expect(held.every((c) => !c.ok && c.status === 401)).toBe(true);
      // Nothing under way any more: the next made-up token is asked about.
      expect(await v.verify(site, "made-up-next", "create")).toMatchObject({ ok: false, status: 401 });
      expect(asked).toBe(9);
    } finally {
      await slow.close();
    }
  });

  it("the site changes its token endpoint: after the discovery is kept (5 min), tokens are checked at the new one", async () => {
    const v = verifier();
    const oldToken = auth.issueToken({ me: site, scope: "create" });
    const newToken = otherAuth.issueToken({ me: site, scope: "create" });
    expect(await v.verify(site, oldToken, "create")).toMatchObject({ ok: true });
    siteLinks = otherAuth.linkHeader;
    expect(await v.verify(site, newToken, "create")).toMatchObject({ ok: false, status: 401 });
    clock += DISCOVERY_DEFAULTS.ttlMs + 1;
    expect(await v.verify(site, newToken, "create")).toMatchObject({ ok: true, token: { me: site } });
    expect(await v.verify(site, oldToken, "create")).toMatchObject({ ok: false, status: 401 });
  });
});

describe("the token endpoint's answer (pure)", () => {
  it.each([
    ["a 400", 400, "{}", 401],
    ["a 403", 403, "{}", 401],
    ["a 502", 502, "{}", 503],
    ["no me", 200, `{"scope":"create"}`, 401],
    ["active false (introspection style)", 200, `{"active":false,"me":"https://a.example/"}`, 401],
    ["a body that is not JSON or a form", 200, "<html>", 401],
  ])("%s is refused", (_, status, body, expected) => {
    expect(processTokenAnswer(status, body, "https://a.example/token")).toMatchObject({ ok: false, status: expected });
  });

  it("a form-encoded answer of an older endpoint is read", () => {
    expect(processTokenAnswer(200, "me=https%3A%2F%2Fa.example&scope=create+update&client_id=https%3A%2F%2Fapp.example%2F", "https://a.example/token")).toEqual(
      {
        ok: true,
        me: "https://a.example/",
        scope: ["create", "update"],
        clientId: "https://app.example/",
      },
    );
  });
});

describe("the dev IndieAuth server's token endpoint (IndieAuth §5.3.3)", () => {
  const clientId = "http://127.0.0.1:9/";
  const redirectUri = "http://127.0.0.1:9/callback";
  let dev: DevAuthorizationServer;
  afterEach(async () => dev?.close());

  async function codeFor(params: Record<string, string>): Promise<Response> {
    const url = new URL(dev.authorizationEndpoint);
    for (const [k, v] of Object.entries({ response_type: "code", client_id: clientId, redirect_uri: redirectUri, state: "s1", ...params }))
      url.searchParams.set(k, v);
    return fetch(url, { redirect: "manual" });
  }
  const codeOf = (answer: Response) => new URL(answer.headers.get("location")!).searchParams.get("code")!;
  const redeem = (form: Record<string, string>) =>
    fetch(dev.tokenEndpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: new URLSearchParams({ grant_type: "authorization_code", client_id: clientId, redirect_uri: redirectUri, ...form }),
    });

  it("code with PKCE and a scope → access token; its GET check names me, client and scope", async () => {
    dev = await startDevAuthorizationServer({ sites: [site], autoApprove: true });
    const pkce = pkcePair();
    const answer = await codeFor({ me: site, scope: "create", code_challenge: pkce.challenge, code_challenge_method: "S256" });
    expect(answer.status).toBe(302);
    const wrong = await redeem({
      code: codeOf(await codeFor({ me: site, scope: "create", code_challenge: pkce.challenge, code_challenge_method: "S256" })),
      code_verifier: "x".repeat(43),
    });
    expect(wrong.status).toBe(400);
    const granted = await redeem({ code: codeOf(answer), code_verifier: pkce.verifier });
    const body = (await granted.json()) as Record<string, string>;
    expect(body).toMatchObject({ token_type: "Bearer", scope: "create", me: site });
    const check = await fetch(dev.tokenEndpoint, { headers: { authorization: `Bearer ${body.access_token}` } });
    expect(await check.json()).toEqual({ me: site, client_id: clientId, scope: "create" });
    await fetch(dev.revocationEndpoint, { method: "POST", body: new URLSearchParams({ token: body.access_token! }) });
    expect((await fetch(dev.tokenEndpoint, { headers: { authorization: `Bearer ${body.access_token}` } })).status).toBe(401);
  });

  it("a code asked without scope gives no access token", async () => {
    dev = await startDevAuthorizationServer({ sites: [site], autoApprove: true });
    const pkce = pkcePair();
    const answer = await codeFor({ me: site, code_challenge: pkce.challenge, code_challenge_method: "S256" });
    const refused = await redeem({ code: codeOf(answer), code_verifier: pkce.verifier });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: "invalid_grant" });
  });

  it("the approve page shows the scope asked", async () => {
    dev = await startDevAuthorizationServer({ sites: [site] });
    const pkce = pkcePair();
    const pageText = await (await codeFor({ me: site, scope: "create update", code_challenge: pkce.challenge, code_challenge_method: "S256" })).text();
    expect(pageText).toContain("create, update");
    expect(pageText).toContain(`name="scope" value="create update"`);
  });

  it("no PKCE (micropub-helper 1.6): refused, unless legacyClients; then redeemed without a verifier", async () => {
    dev = await startDevAuthorizationServer({ sites: [site], autoApprove: true });
    expect((await codeFor({ me: site, scope: "create" })).status).toBe(400);
    await dev.close();
    dev = await startDevAuthorizationServer({ sites: [site], autoApprove: true, legacyClients: true });
    const granted = await redeem({ code: codeOf(await codeFor({ me: site, scope: "create" })), me: site });
    expect(await granted.json()).toMatchObject({ me: site, scope: "create", token_type: "Bearer" });
  });

  it("a me hint that is a DM profile URL: autoApprove signs in as the site whose profile it is, else the first", async () => {
    const second = "http://127.0.0.1:4002/";
    dev = await startDevAuthorizationServer({ sites: [site, second], autoApprove: true, legacyClients: true });
    const meOf = async (hint: string) => (await (await redeem({ code: codeOf(await codeFor({ me: hint, scope: "create" })) })).json()) as { me: string };
    expect((await meOf("http://127.0.0.1:4000/me/127-0-0-1-4002/")).me).toBe(second);
    expect((await meOf("http://127.0.0.1:4000/me/unknown/")).me).toBe(site);
  });
});
