/** `pmLink()` in a real Express 5 app: PROTOCOL.md §1 step 2, the `Link` header with rel=pm. */
import express, { type ErrorRequestHandler } from "express";
import { startLoopbackServer } from "@indiepm/test-support";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { IndiePmExpressError, linkNamesPm, pmLink, type PmLinkOptions } from "../src/index.js";

const ENDPOINT = "https://example.com/pm/";
const LINK = `<${ENDPOINT}>; rel="pm"`;

function site(): express.Express {
  const app = express();
  app.use(pmLink({ endpoint: ENDPOINT }));
  app.get("/", (_req, res) => void res.send("<!doctype html><title>home</title>"));
  app.get("/xhtml", (_req, res) => void res.type("application/xhtml+xml").send("<html xmlns='http://www.w3.org/1999/xhtml'/>"));
  app.get("/data.json", (_req, res) => void res.json({ hello: "world" }));
  app.get("/text", (_req, res) => void res.type("text/plain").send("plain"));
  app.get("/with-links", (_req, res) => {
    res.setHeader("link", '</style.css>; rel="preload"; as="style"');
    res.send("<p>page</p>");
  });
  app.get("/already-pm", (_req, res) => {
    res.setHeader("link", '<https://elsewhere.example/pm>; rel="me pm"');
    res.send("<p>page</p>");
  });
  app.get("/write-head", (_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", link: "</a.css>; rel=stylesheet" });
    res.end("<p>raw</p>");
  });
  app.get("/write-head-json", (_req, res) => {
    res.writeHead(200, "OK", { "content-type": "application/json" });
    res.end("{}");
  });
  return app;
}

describe('pmLink adds Link: <endpoint>; rel="pm" to HTML only', () => {
  it.each([
    ["an HTML page", "/", LINK],
    ["an XHTML page", "/xhtml", LINK],
    ["HTML written with res.writeHead(headers)", "/write-head", `</a.css>; rel=stylesheet, ${LINK}`],
    ["HTML with other Link values (added alongside)", "/with-links", `</style.css>; rel="preload"; as="style", ${LINK}`],
    ["HTML that already names a pm endpoint (left alone)", "/already-pm", '<https://elsewhere.example/pm>; rel="me pm"'],
  ])("%s", async (_name, path, expected) => {
    const res = await request(site()).get(path);
    expect(res.status).toBe(200);
    expect(res.headers.link).toBe(expected);
  });

  it.each([
    ["JSON", "/data.json"],
    ["plain text", "/text"],
    ["JSON written with res.writeHead(status, reason, headers)", "/write-head-json"],
  ])("not %s", async (_name, path) => {
    const res = await request(site()).get(path);
    expect(res.status).toBe(200);
    expect(res.headers.link).toBeUndefined();
  });

  it("is framework-neutral: works on a bare node:http server", async () => {
    const middleware = pmLink({ endpoint: ENDPOINT });
    const server = await startLoopbackServer((req, res) =>
      middleware(req, res, () => {
        res.setHeader("content-type", "text/html");
        res.end("<p>hi</p>");
      }),
    );
    try {
      const res = await fetch(server.url);
      expect(res.headers.get("link")).toBe(LINK);
    } finally {
      await server.close();
    }
  });
});

describe("pmLink options", () => {
  it.each([
    ["no options", undefined, /^pmLink: options must be an object/],
    ["no endpoint", {}, /^pmLink: option `endpoint` is required/],
    ["endpoint not a URL", { endpoint: "foo" }, /^pmLink: option `endpoint` must be an absolute http\(s\) URL, got "foo"\.$/],
    ["endpoint not http(s)", { endpoint: "ftp://example.com/pm" }, /option `endpoint` must be an absolute http\(s\) URL/],
    ["a typo", { endpoint: ENDPOINT, endpont: 1 }, /unknown option `endpont`; did you mean `endpoint`\?/],
  ])("%s", (_name, options, message) => {
    expect(() => pmLink(options as PmLinkOptions)).toThrow(message);
    try {
      pmLink(options as PmLinkOptions);
    } catch (error) {
      expect(error).toBeInstanceOf(IndiePmExpressError);
      expect((error as IndiePmExpressError).code).toBe("invalid_config");
    }
  });

  it("catches app.use(pmLink)", async () => {
    const app = express();
    app.use(pmLink as unknown as express.RequestHandler);
    app.get("/", (_req, res) => void res.send("<p>x</p>"));
    const report: ErrorRequestHandler = (error: unknown, _req, res, _next) => void res.status(500).json({ caught: (error as Error).message });
    app.use(report);
    const res = await request(app).get("/");
    expect(res.status).toBe(500);
    expect(res.body.caught).toMatch(/it appears you wrote `app\.use\(pmLink\)`, but it should be `app\.use\(pmLink\(\{ endpoint \}\)\)`/);
  });

  it("accepts a development endpoint (a loopback http URL)", () => {
    expect(() => pmLink({ endpoint: "http://127.0.0.1:4002/" })).not.toThrow();
  });
});

describe("linkNamesPm (PROTOCOL.md §1 step 2: rel list contains pm)", () => {
  it.each([
    ['<https://a/>; rel="pm"', true],
    ["<https://a/>; rel=pm", true],
    ['<https://a/>; rel="me PM"', true],
    ['<https://a/>; rel="not-pm"', false],
    ['<https://a/;rel=pm>; rel="me"', false],
    ['</x.css>; rel=preload, <https://a/>; rel="pm"', true],
  ])("%s → %s", (value, expected) => {
    expect(linkNamesPm(value)).toBe(expected);
  });
});
