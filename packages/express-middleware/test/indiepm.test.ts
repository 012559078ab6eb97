/**
 * `indiepm()` in a real Express 5 app (supertest), against the real engine on an
 * in-memory store unless a case needs a stand-in engine (an unexpected failure).
 */
import { request as httpRequest } from "node:http";
import express, { type ErrorRequestHandler } from "express";
import request from "supertest";
import { afterEach, describe, expect, it, vi } from "vitest";
import { PmError, createMemoryStore, jsonResponse, type PmServer, type RequestContext } from "@indiepm/core";
import { startLoopbackServer, tempDir } from "@indiepm/test-support";
import { IndiePmExpressError, indiepm, type IndiePmOptions, type IndiePmRouter } from "../src/index.js";

const OWNER_TOKEN = "owner-token-for-tests-0123456789";
const SITE = "http://127.0.0.1:1/";

const routers: IndiePmRouter[] = [];
afterEach(async () => {
  await Promise.all(routers.splice(0).map((r) => r.close(0)));
});

function quietLogger() {
  return { info: vi.fn(), warn: vi.fn(), error: vi.fn() };
}

type EngineOptions = Extract<IndiePmOptions, { endpoint: string }>;

/**
 * A router over the real engine, in development mode, on a fresh in-memory store. An
 * override given as `undefined` is passed on as such (`store: undefined` beside `dataDir`),
 * as a JavaScript caller may.
 */
function realRouter(overrides: { [K in keyof EngineOptions]?: EngineOptions[K] | undefined } = {}): IndiePmRouter {
  const router = indiepm({
    endpoint: "http://127.0.0.1:9/pm/",
    sites: [SITE],
    store: createMemoryStore(),
    dev: true,
    ownerToken: OWNER_TOKEN,
    logger: quietLogger(),
    ...overrides,
  } as EngineOptions);
  routers.push(router);
  return router;
}

/** A stand-in engine whose `handle` does what the case needs. */
function fakeServer(handle: (request: Request, context?: RequestContext) => Promise<Response>): PmServer {
  // Only what the middleware calls; the rest of PmServer is never reached.
  const stub: Partial<PmServer> = {
    endpoint: "http://127.0.0.1:9/pm/",
    sites: [SITE],
    dev: true,
    handle,
    send: () => Promise.reject(new Error("unused")),
    inbox: async () => [],
    outbox: async () => [],
    getMessage: async () => ({ sent: null, received: [] }),
    deleteMessage: async () => 0,
    tokens: async () => [],
    revokeToken: async () => false,
    start: async () => undefined,
    close: async () => undefined,
  };
  return stub as PmServer;
}

/** The error an app's error handler receives, as JSON (so tests can read it). */
const reportError: ErrorRequestHandler = (error: unknown, _req, res, _next) => {
  res.status(500).json({ caught: error instanceof Error ? error.message : String(error), code: (error as PmError).code });
};

describe("options are checked once, in the factory (STYLE.md practice 5)", () => {
  const base = { endpoint: "https://example.com/pm/", sites: ["https://example.com/"], store: createMemoryStore() };
  const cases: { name: string; options: unknown; message: RegExp; engineRule?: true }[] = [
    { name: "no options", options: undefined, message: /^indiepm: options must be an object/ },
    {
      name: "endpoint not a URL",
      options: { ...base, endpoint: "foo" },
      message: /^indiepm: option `endpoint` must be an absolute http\(s\) URL, got "foo"\.$/,
      engineRule: true,
    },
    { name: "endpoint missing", options: { sites: base.sites, store: base.store }, message: /option `endpoint` is required/, engineRule: true },
    {
      name: "http endpoint in production",
      options: { ...base, endpoint: "http://example.com/pm/" },
      message:
        /option `endpoint` is refused: production servers accept only https URLs \(set `dev: true` for local testing\), got "http:\/\/example.com\/pm\/"\.$/,
      engineRule: true,
    },
    {
      name: "IP endpoint in production",
      options: { ...base, endpoint: "https://10.0.0.1/pm/" },
      message: /option `endpoint` is refused: production servers accept only domain names, not IP addresses/,
      engineRule: true,
    },
    {
      name: "localhost endpoint in production",
      options: { ...base, endpoint: "https://localhost/pm/" },
      message: /option `endpoint` is refused: production servers do not accept localhost/,
      engineRule: true,
    },
    {
      name: "endpoint with credentials",
      options: { ...base, endpoint: "https://u:p@example.com/pm/" },
      message: /option `endpoint` is refused: a URL with a user name or password is not allowed/,
      engineRule: true,
    },
    {
      name: "endpoint with a fragment",
      options: { ...base, endpoint: "https://example.com/pm/#x" },
      message: /option `endpoint` must not have a fragment/,
      engineRule: true,
    },
    { name: "sites empty", options: { ...base, sites: [] }, message: /option `sites` must be a non-empty array/ },
    {
      name: "a site not a URL",
      options: { ...base, sites: ["https://example.com/", "nope"] },
      message: /option `sites\[1\]` must be an absolute http\(s\) URL, got "nope"/,
      engineRule: true,
    },
    {
      name: "no store",
      options: { endpoint: base.endpoint, sites: base.sites },
      message: /option `dataDir` \(a folder for the embedded store\) or `store` is required/,
    },
    { name: "store and dataDir", options: { ...base, dataDir: "x" }, message: /options `store` and `dataDir` cannot both be set/ },
    { name: "store not a Store", options: { ...base, store: {} }, message: /option `store` must implement the Store interface/, engineRule: true },
    { name: "empty owner token", options: { ...base, ownerToken: "" }, message: /option `ownerToken` must be a non-empty string/, engineRule: true },
    { name: "a typo", options: { ...base, endpiont: "x" }, message: /^indiepm: unknown option `endpiont`; did you mean `endpoint`\?$/ },
    { name: "an unknown option", options: { ...base, colour: "red" }, message: /unknown option `colour` \(known options:/ },
    { name: "dev not a boolean", options: { ...base, dev: "yes" }, message: /option `dev` must be true or false, got "yes"/, engineRule: true },
    { name: "maxBodyBytes", options: { ...base, maxBodyBytes: -1 }, message: /option `maxBodyBytes` must be a positive whole number/, engineRule: true },
    // Engine options the middleware never checked itself: the engine's one rule, at start-up.
    {
      name: "a retry typo",
      options: { ...base, retry: { baseDelay: 5 } },
      message: /^indiepm: unknown option `retry\.baseDelay`; did you mean `retry\.baseDelayMs`\?$/,
      engineRule: true,
    },
    {
      name: "grant lifetime",
      options: { ...base, grantLifetimeSeconds: 5 },
      message: /^indiepm: option `grantLifetimeSeconds` must be whole seconds from 60 to 31536000/,
      engineRule: true,
    },
    { name: "server not an engine", options: { server: {} }, message: /option `server` must be a PmServer made by createPmServer\(\)/ },
    {
      name: "server with engine options",
      options: { server: fakeServer(async () => new Response()), endpoint: "https://example.com/pm/" },
      message: /option `endpoint` cannot be combined with `server`/,
    },
  ];
  it.each(cases)("$name", ({ options, message, engineRule }) => {
    let thrown: unknown;
    try {
      indiepm(options as IndiePmOptions);
    } catch (error) {
      thrown = error;
    }
    // Issue 10 item 3: the package's own error type (was core's PmError); an engine
    // option's refusal comes from core's resolvePmServerOptions, kept as `cause`.
    expect(thrown).toBeInstanceOf(IndiePmExpressError);
    expect((thrown as IndiePmExpressError).code).toBe("invalid_config");
    expect((thrown as IndiePmExpressError).message).toMatch(message);
    if (engineRule) {
      expect((thrown as IndiePmExpressError).cause).toBeInstanceOf(PmError);
      expect(((thrown as IndiePmExpressError).cause as PmError).code).toBe("invalid_config");
    }
  });

  it("catches app.use(indiepm) — the factory itself mounted — with the fix in the message", async () => {
    const app = express();
    app.use("/pm", indiepm as unknown as express.RequestHandler);
    app.use(reportError);
    const res = await request(app).get("/pm/");
    expect(res.status).toBe(500);
    expect(res.body.code).toBe("invalid_config");
    expect(res.body.caught).toMatch(/it appears you wrote `app\.use\(indiepm\)`, but it should be `app\.use\("\/pm", indiepm\(\{/);
  });
});

describe("forwarding to the engine", () => {
  it("hands the path relative to the mount and the client address to handle()", async () => {
    const seen: { path?: string; clientAddress?: string; url: string; method: string }[] = [];
    const router = indiepm({
      server: fakeServer(async (req, context) => {
        seen.push({ ...context, url: req.url, method: req.method });
        return jsonResponse({ ok: true });
      }),
    });
    const app = express();
    app.use("/pm", router);
    const res = await request(app).get("/pm/api/inbox?site=x");
    expect(res.status).toBe(200);
    expect(seen).toHaveLength(1);
    expect(seen[0]!.path).toBe("/api/inbox");
    expect(seen[0]!.clientAddress).toMatch(/127\.0\.0\.1/);
    expect(new URL(seen[0]!.url).pathname).toBe("/pm/api/inbox");
    expect(new URL(seen[0]!.url).search).toBe("?site=x");
  });

  it("answers GET on the mount path with the engine's page", async () => {
    const app = express();
    app.use("/pm", realRouter());
    const res = await request(app).get("/pm");
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/html/);
  });

  it("PROTOCOL.md §2: a notify for a site this server does not hold is 404 unknown_recipient", async () => {
    const app = express();
    app.use("/pm", realRouter());
    const res = await request(app)
      .post("/pm/")
      .type("form")
      .send({ action: "notify", sender: "http://127.0.0.1:2/", recipient: "http://127.0.0.1:3/", message: "urn:uuid:4b2a0f0e-0a5e-4a53-9d1f-2d7b5a3c9e10" });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: "unknown_recipient", error_description: expect.any(String) });
  });

  it("serves the owner API under the mount path", async () => {
    const app = express();
    app.use("/pm", realRouter());
    const refused = await request(app).get("/pm/api/inbox");
    expect(refused.status).toBe(401);
    expect(refused.body.error).toBe("invalid_token");
    const ok = await request(app).get("/pm/api/inbox").set("authorization", `Bearer ${OWNER_TOKEN}`);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual([]);
  });

  it("creates the embedded store from dataDir", async () => {
    const dir = await tempDir("indiepm-express-");
    try {
      const router = realRouter({ store: undefined, dataDir: dir.path });
      await router.ready;
      const app = express();
      app.use("/pm", router);
      const res = await request(app).get("/pm/api/outbox").set("authorization", `Bearer ${OWNER_TOKEN}`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual([]);
      await router.close(0);
    } finally {
      await dir.remove();
    }
  });

  it("413 too_large for a chunked body (no Content-Length) that goes over the limit", async () => {
    const app = express();
    app.use("/pm", realRouter({ maxBodyBytes: 1024 }));
    const server = await startLoopbackServer(app);
    try {
      const port = Number(new URL(server.url).port);
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest(
          { host: "127.0.0.1", port, method: "POST", path: "/pm/", headers: { "content-type": "application/x-www-form-urlencoded" } },
          (res) => {
            let body = "";
            res
              .setEncoding("utf8")
              .on("data", (c: string) => (body += c))
              .on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on("error", reject);
        // No Content-Length: node sends the body chunked, so only counting can stop it.
        req.write("action=notify&x=");
        req.end("b".repeat(4096));
      });
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body).error).toBe("too_large");
    } finally {
      await server.close();
    }
  });

  it("400 invalid_request JSON for a body that is not a form", async () => {
    const app = express();
    app.use("/pm", realRouter());
    const res = await request(app).post("/pm/").set("content-type", "application/json").send('{"action":"notify"}');
    expect(res.status).toBe(400);
    expect(res.body.error).toBe("invalid_request");
  });

  it("500 server_error JSON without a stack for an unexpected failure, logged", async () => {
    const logger = quietLogger();
    const router = indiepm({
      server: fakeServer(async () => {
        throw new Error("database password is hunter2");
      }),
      logger,
    });
    const app = express();
    app.use("/pm", router);
    const res = await request(app).post("/pm/").type("form").send("action=notify");
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ error: "server_error", error_description: expect.any(String) });
    expect(res.text).not.toContain("hunter2");
    expect(res.text).not.toMatch(/\bat .*\(.*:\d+:\d+\)/);
    expect(logger.error).toHaveBeenCalledOnce();
    expect(JSON.stringify(logger.error.mock.calls[0])).toContain("hunter2");
  });
});

describe("a host app whose body parser ran first", () => {
  it("rebuilds the form from express.urlencoded()", async () => {
    const seen: string[] = [];
    const app = express();
    app.use(express.urlencoded());
    app.use(
      "/pm",
      indiepm({
        server: fakeServer(async (req) => {
          seen.push(await req.text());
          return jsonResponse({ ok: true });
        }),
      }),
    );
    const res = await request(app).post("/pm/").type("form").send("action=deliver&to=a&to=b&content=x%20y");
    expect(res.status).toBe(200);
    const form = new URLSearchParams(seen[0]);
    expect(form.getAll("to")).toEqual(["a", "b"]);
    expect(form.get("content")).toBe("x y");
  });

  it("gives the real engine the rebuilt form", async () => {
    const app = express();
    app.use(express.urlencoded());
    app.use("/pm", realRouter());
    const res = await request(app).post("/pm/").type("form").send("action=notify");
    expect(res.status).toBe(400);
    expect(res.body.error).toBe("invalid_request");
    expect(res.body.error_description).toMatch(/sender/);
  });

  it("rebuilds JSON for the owner API from express.json()", async () => {
    const app = express();
    app.use(express.json());
    app.use("/pm", realRouter());
    const res = await request(app)
      .post("/pm/api/messages")
      .set("authorization", `Bearer ${OWNER_TOKEN}`)
      .send({ from: SITE, to: ["http://127.0.0.1:2/"], content: "hello" });
    expect(res.status).toBe(202);
    expect(res.body.deliveries).toEqual([expect.objectContaining({ recipient: "http://127.0.0.1:2/", status: "pending" })]);
  });

  it("refuses a nested form (extended parser) with how to mount indiepm", async () => {
    const app = express();
    app.use(express.urlencoded({ extended: true }));
    app.use("/pm", realRouter());
    const res = await request(app).post("/pm/").type("form").send("action=notify&a[b]=c");
    expect(res.status).toBe(400);
    expect(res.body.error).toBe("invalid_request");
    expect(res.body.error_description).toMatch(/mount indiepm before the app's body parsers/);
  });
});

describe("issue 9 item 15: a body parser mounted before indiepm() is warned about, once", () => {
  /**
   * A deliver within PROTOCOL.md §2's limits (a 256 KiB body, 60 KiB of `content`) and over
   * the parsers' 100 kB default: its text and its HTML, about 123 kB together.
   */
  const bigDeliver = () =>
    new URLSearchParams({
      action: "deliver",
      token: "t".repeat(43),
      message: "urn:uuid:4b2a0f0e-0a5e-4a53-9d1f-2d7b5a3c9e10",
      content: "a".repeat(60 * 1024),
      "content-html": `<p>${"a".repeat(60 * 1024)}</p>`,
    }).toString();
  const warnings = (logger: ReturnType<typeof quietLogger>) => logger.warn.mock.calls.map((call) => String(call[0]));

  it("mounted after express.urlencoded(): warned at the first request, and only then, naming indiepm() and the fix", async () => {
    const logger = quietLogger();
    const app = express();
    app.use(express.urlencoded());
    app.use("/pm", realRouter({ logger }));

    expect((await request(app).get("/pm/api/inbox")).status).toBe(401);
    expect(warnings(logger)).toHaveLength(1); // at the first request, a GET
    expect((await request(app).post("/pm/").type("form").send("action=notify")).status).toBe(400);
    // What the warning is about: the app's parser refuses a valid request with an HTML 413 indiepm never sees.
    const refused = await request(app).post("/pm/").type("form").send(bigDeliver());
    expect(refused.status).toBe(413);
    expect(refused.headers["content-type"]).toMatch(/^text\/html/);
    expect((await request(app).get("/pm/api/inbox").set("authorization", `Bearer ${OWNER_TOKEN}`)).status).toBe(200);

    expect(warnings(logger)).toHaveLength(1);
    const [warning] = warnings(logger);
    expect(warning).toContain("runs before indiepm() on requests to /pm");
    expect(warning).toContain("HTML 413");
    expect(warning).toContain('Mount indiepm() before the body parser (app.use("/pm", indiepm({ … })) above app.use(express.urlencoded()))');
    expect(logger.error).not.toHaveBeenCalled();
  });

  it("mounted before the parser: no warning, and the 150 kB request reaches indiepm while the app's own routes are still parsed", async () => {
    const logger = quietLogger();
    const app = express();
    app.use("/pm", realRouter({ logger }));
    app.use(express.urlencoded());
    app.post("/contact", (req, res) => void res.json(req.body));

    const reached = await request(app).post("/pm/").type("form").send(bigDeliver());
    expect(bigDeliver().length).toBeGreaterThan(100 * 1024);
    expect(reached.body.error).not.toBe("too_large"); // the engine's own answer about the token
    expect(reached.headers["content-type"]).toMatch(/^application\/json/);
    expect((await request(app).get("/pm/api/inbox")).status).toBe(401);
    expect((await request(app).post("/pm/").type("form").send("action=notify")).status).toBe(400);
    expect((await request(app).post("/contact").type("form").send("name=bob")).body).toEqual({ name: "bob" });
    expect(warnings(logger)).toEqual([]);
  });

  it.each([
    ["express.json()", express.json()],
    ["express.text()", express.text()],
    ["express.raw()", express.raw()],
  ])("mounted after %s: warned once", async (_name, parser) => {
    const logger = quietLogger();
    const app = express();
    app.use(parser);
    app.use("/pm", realRouter({ logger }));
    for (let i = 0; i < 3; i++) await request(app).post("/pm/").type("form").send("action=notify");
    expect(warnings(logger)).toHaveLength(1);
    expect(warnings(logger)[0]).toContain("Mount indiepm() before the body parser");
  });
});

describe("each call is independent (no module-level state)", () => {
  it("two routers from two calls keep their own engines and stores", async () => {
    const a = realRouter({ endpoint: "http://127.0.0.1:9/a/", sites: ["http://127.0.0.1:11/"] });
    const b = realRouter({ endpoint: "http://127.0.0.1:9/b/", sites: ["http://127.0.0.1:12/"] });
    expect(a).not.toBe(b);
    expect(a.server).not.toBe(b.server);
    const app = express();
    app.use("/a", a);
    app.use("/b", b);
    const auth = { authorization: `Bearer ${OWNER_TOKEN}` };
    const sent = await request(app)
      .post("/a/api/messages")
      .set(auth)
      .send({ from: "http://127.0.0.1:11/", to: ["http://127.0.0.1:2/"], content: "hi" });
    expect(sent.status).toBe(202);
    expect((await request(app).get("/a/api/outbox").set(auth)).body).toHaveLength(1);
    expect((await request(app).get("/b/api/outbox").set(auth)).body).toEqual([]);
    // b does not hold a's site.
    const wrongSite = await request(app)
      .post("/b/api/messages")
      .set(auth)
      .send({ from: "http://127.0.0.1:11/", to: ["http://127.0.0.1:2/"], content: "hi" });
    expect(wrongSite.status).toBe(400);
  });
});
