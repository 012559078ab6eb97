/**
 * `setupGhost` and the Admin API client against a stand-in Ghost on loopback
 * (fake-ghost.ts), with core's discovery over its guarded HTTP client (dev) for the
 * PROTOCOL.md §1 proof, as the CLI passes it.
 */
import { createHmac } from "node:crypto";
import { createHttpClient, discoverEndpoint, type ClosableHttpClient } from "@indiepm/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  adminApiToken,
  createGhostAdminClient,
  GHOST_ACCEPT_VERSION,
  GhostError,
  IntegrationKeyError,
  parseAdminKey,
  setupGhost,
  type GhostSetupOptions,
} from "../src/index.js";
import { startFakeGhost, type FakeGhost } from "./fake-ghost.js";

const E = "http://127.0.0.1:9/pm/";
const E2 = "http://127.0.0.1:9/pm2/";

let ghost: FakeGhost;
let http: ClosableHttpClient;

beforeEach(async () => {
  ghost = await startFakeGhost({ codeInjectionHead: "<!-- analytics -->\n<script>track()</script>\n" });
  http = createHttpClient({ dev: true });
});
afterEach(async () => {
  await http.close();
  await ghost.close();
});

function options(extra: Partial<GhostSetupOptions> = {}): GhostSetupOptions {
  return {
    siteUrl: ghost.url,
    staffToken: ghost.staffToken,
    endpoint: E,
    dev: true,
    discover: (site) => discoverEndpoint(site, http, { dev: true }),
    proofAttempts: 1,
    ...extra,
  };
}

async function rejection(promise: Promise<unknown>): Promise<GhostError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GhostError);
  return error as GhostError;
}

describe("parseAdminKey", () => {
  it.each([
    { name: "a staff token", key: "6489a6f2b1c2d3e4f5a6b7c8:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", id: "6489a6f2b1c2d3e4f5a6b7c8" },
    {
      name: "with blanks around it (pasted)",
      key: "  6489a6f2b1c2d3e4f5a6b7c8:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
      id: "6489a6f2b1c2d3e4f5a6b7c8",
    },
  ])("takes $name", ({ key, id }) => {
    expect(parseAdminKey(key).id).toBe(id);
  });

  it.each([
    { name: "a Content API key", key: "22444f78447824223cefc48062", message: /Content API key, which can only read/ },
    { name: "no colon", key: "not-a-key", message: /ID:SECRET in hex/ },
    { name: "a secret that is not hex", key: "abc:xyz", message: /ID:SECRET in hex/ },
    { name: "a short secret", key: "abc:0123", message: /ID:SECRET in hex/ },
  ])("refuses $name", ({ key, message }) => {
    expect(() => parseAdminKey(key)).toThrow(message);
  });
});

describe("adminApiToken (Ghost Admin API authentication)", () => {
  it("is an HS256 JWT with kid = id, aud /admin/, 5 minutes, signed with the hex-decoded secret", () => {
    const key = { id: "6489a6f2b1c2d3e4f5a6b7c8", secret: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" };
    const token = adminApiToken(key, 1_700_000_000_500);
    const [h, p, s] = token.split(".");
    expect(JSON.parse(Buffer.from(h!, "base64url").toString())).toEqual({ alg: "HS256", typ: "JWT", kid: key.id });
    expect(JSON.parse(Buffer.from(p!, "base64url").toString())).toEqual({ iat: 1_700_000_000, exp: 1_700_000_300, aud: "/admin/" });
    expect(s).toBe(createHmac("sha256", Buffer.from(key.secret, "hex")).update(`${h}.${p}`).digest("base64url"));
  });
});

describe("setupGhost: the merge written through the Admin API", () => {
  it("adds the link, keeping the owner's code injection, and proves it with discovery", async () => {
    const result = await setupGhost(options());
    expect(result).toMatchObject({ action: "added", changed: true, written: true, identity: { kind: "staff", roles: ["Administrator"] } });
    expect(ghost.codeInjectionHead).toBe(`<!-- analytics -->\n<script>track()</script>\n<link rel="pm" href="${E}">\n`);
    expect(result.proof).toEqual({ endpoint: E, url: ghost.url, source: "html" });
    expect(ghost.acceptVersions.every((v) => v === GHOST_ACCEPT_VERSION)).toBe(true);
  });

  it("is idempotent: a second run reads, changes nothing and writes nothing", async () => {
    await setupGhost(options());
    const puts = () => ghost.requests.filter((r) => r === "PUT /ghost/api/admin/settings/").length;
    expect(puts()).toBe(1);
    const again = await setupGhost(options());
    expect(again).toMatchObject({ action: "unchanged", changed: false, written: false });
    expect(puts()).toBe(1);
    expect(again.proof?.endpoint).toBe(E);
  });

  it("replaces the old link when the endpoint changed", async () => {
    await setupGhost(options());
    const result = await setupGhost(options({ endpoint: E2 }));
    expect(result.action).toBe("replaced");
    expect(ghost.codeInjectionHead).toBe(`<!-- analytics -->\n<script>track()</script>\n<link rel="pm" href="${E2}">\n`);
    expect(result.proof?.endpoint).toBe(E2);
  });

  it("--remove takes it out and gives back the owner's bytes", async () => {
    const original = ghost.codeInjectionHead;
    await setupGhost(options());
    const result = await setupGhost(options({ endpoint: null }));
    expect(result).toMatchObject({ action: "removed", written: true, proof: { endpoint: null } });
    expect(ghost.codeInjectionHead).toBe(original);
  });

  it("a dry run reads and shows the change but writes nothing and needs no discovery", async () => {
    const result = await setupGhost({ siteUrl: ghost.url, staffToken: ghost.staffToken, endpoint: E, dev: true, dryRun: true });
    expect(result).toMatchObject({ action: "added", changed: true, written: false });
    expect(result.after).toContain(`<link rel="pm" href="${E}">`);
    expect(result.proof).toBeUndefined();
    expect(ghost.requests).not.toContain("PUT /ghost/api/admin/settings/");
  });

  it("starts from an empty (null) code injection", async () => {
    ghost.codeInjectionHead = null;
    await setupGhost(options());
    expect(ghost.codeInjectionHead).toBe(`<link rel="pm" href="${E}">`);
  });
});

describe("setupGhost: what Ghost refuses, and why", () => {
  it("an integration's Admin API key: refused before any write, with the snippet to paste", async () => {
    const error = await rejection(setupGhost(options({ staffToken: ghost.integrationKey })));
    expect(error).toBeInstanceOf(IntegrationKeyError);
    expect(error.code).toBe("integration_key");
    expect(error.message).toMatch(/integration's Admin API key only read settings \(it answers 501 to any change\)/);
    expect((error as IntegrationKeyError).manual).toEqual({ action: "add", snippet: `<link rel="pm" href="${E}">` });
    expect(ghost.requests).not.toContain("PUT /ghost/api/admin/settings/");
  });

  it("an integration's key with --remove names the lines to delete", async () => {
    await setupGhost(options());
    const error = (await rejection(setupGhost(options({ staffToken: ghost.integrationKey, endpoint: null })))) as IntegrationKeyError;
    expect(error.manual).toEqual({ action: "remove", snippet: `<link rel="pm" href="${E}">` });
  });

  it("an integration's key is fine when nothing needs to change", async () => {
    await setupGhost(options());
    const result = await setupGhost(options({ staffToken: ghost.integrationKey }));
    expect(result).toMatchObject({ action: "unchanged", identity: { kind: "integration" } });
  });

  it("an Editor's staff token: 403, only an Administrator may edit settings", async () => {
    const error = await rejection(setupGhost(options({ staffToken: ghost.editorToken })));
    expect(error.code).toBe("forbidden");
    expect(error.message).toMatch(/only an Administrator's or the Owner's staff access token/);
  });

  it("a key Ghost does not know: 401", async () => {
    const error = await rejection(setupGhost(options({ staffToken: `${"a".repeat(24)}:${"b".repeat(64)}` })));
    expect(error.code).toBe("unauthorized");
    expect(error.message).toMatch(/Ghost refused the key \(Unknown Admin API Key\)/);
  });

  it("a site that is not Ghost", async () => {
    const error = await rejection(setupGhost(options({ adminUrl: `${ghost.url}not-ghost/` })));
    expect(error.code).toBe("not_ghost");
  });

  it("nothing listening", async () => {
    const error = await rejection(setupGhost(options({ siteUrl: "http://127.0.0.1:9/" })));
    expect(error.code).toBe("network_error");
    expect(error.message).toMatch(/could not reach Ghost's Admin API at http:\/\/127.0.0.1:9\/ghost\/api\/admin\/users\/me\//);
  });

  it.each([
    {
      name: "an http Ghost URL",
      extra: { siteUrl: "http://blog.example/", dev: false },
      message: /the Ghost URL http:\/\/blog.example\/ is refused: production servers accept only https URLs \(use --dev for http\) \(--dev allows it\)/,
    },
    {
      name: "a loopback endpoint in production",
      extra: { siteUrl: "https://blog.example/", endpoint: "https://127.0.0.1/", dev: false },
      message: /the pm endpoint https:\/\/127.0.0.1\/ is refused/,
    },
    { name: "no discovery for the proof", extra: { discover: undefined }, message: /needs discover/ },
  ])("refuses $name before writing", async ({ extra, message }) => {
    const error = await rejection(setupGhost(options(extra as Partial<GhostSetupOptions>)));
    expect(error.code).toBe("invalid_option");
    expect(error.message).toMatch(message);
  });
});

describe("setupGhost: the proof (PROTOCOL.md §1 on the home page)", () => {
  it("a theme without {{ghost_head}}: written, but not live", async () => {
    ghost.theme = "no-ghost-head";
    const error = await rejection(setupGhost(options()));
    expect(error.code).toBe("not_live");
    expect(error.message).toMatch(/finds no pm endpoint; .*\{\{ghost_head\}\} is missing from the theme/);
  });

  it("a theme that names another endpoint first", async () => {
    ghost.theme = "own-pm-link";
    const error = await rejection(setupGhost(options()));
    expect(error.message).toMatch(/finds https:\/\/theme.example\/pm\/ \(from an earlier link in the page, perhaps the theme's\)/);
  });
});

describe("createGhostAdminClient", () => {
  const key = parseAdminKey(`${"a".repeat(24)}:${"b".repeat(64)}`);

  it("an Admin API that redirects (Ghost's admin.url elsewhere, as on Ghost(Pro)) asks for --admin-url", async () => {
    const fetch = async () => new Response(null, { status: 301, headers: { location: "https://blog.ghost.io/ghost/api/admin/settings/" } });
    const client = createGhostAdminClient({ adminUrl: "https://blog.example/", key, fetch });
    const error = await rejection(client.readSettings());
    expect(error.code).toBe("redirected");
    expect(error.message).toBe(
      "Ghost's Admin API at https://blog.example/ghost/api/admin/settings/ redirects to https://blog.ghost.io/; give Ghost's admin address (its admin.url) with --admin-url",
    );
  });

  it("sends the signed token, Accept-Version and JSON to the API under a subdirectory install", async () => {
    const seen: Request[] = [];
    const fetch = async (input: string | URL | Request, init?: RequestInit) => {
      seen.push(new Request(input, init));
      return Response.json({ settings: [{ key: "codeinjection_head", value: "x" }] });
    };
    const client = createGhostAdminClient({ adminUrl: "https://example.org/blog", key, fetch: fetch as typeof globalThis.fetch });
    await client.editSettings([{ key: "codeinjection_head", value: "y" }]);
    expect(seen[0]!.url).toBe("https://example.org/blog/ghost/api/admin/settings/");
    expect(seen[0]!.method).toBe("PUT");
    expect(seen[0]!.headers.get("authorization")).toMatch(/^Ghost [\w-]+\.[\w-]+\.[\w-]+$/);
    expect(seen[0]!.headers.get("accept-version")).toBe("v5.0");
    expect(await seen[0]!.json()).toEqual({ settings: [{ key: "codeinjection_head", value: "y" }] });
  });

  it("a timeout is a network_error that says so", async () => {
    const fetch = (_input: unknown, init?: RequestInit) =>
      new Promise<Response>((_resolve, reject) => init?.signal?.addEventListener("abort", () => reject(init.signal!.reason)));
    const client = createGhostAdminClient({ adminUrl: "https://blog.example/", key, fetch: fetch as typeof globalThis.fetch, timeoutMs: 50 });
    const error = await rejection(client.readSettings());
    expect(error.code).toBe("network_error");
    expect(error.message).toMatch(/no answer within 0.05 s/);
  });
});
