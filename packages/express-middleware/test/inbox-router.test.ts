/** `indiepmInbox()`: the web inbox at a path of the owner's choice (issue 5). */
import express from "express";
import request from "supertest";
import { describe, expect, it, vi } from "vitest";
import { createMemoryStore, createPmServer } from "@indiepm/core";
import { WebInboxError } from "@indiepm/web";
import { IndiePmExpressError, indiepm, indiepmInbox } from "../src/index.js";

const quiet = { info() {}, warn() {}, error() {} };
const engine = () =>
  createPmServer({ endpoint: "http://127.0.0.1:9/pm/", sites: ["http://127.0.0.1:9/"], store: createMemoryStore(), dev: true, logger: quiet });

describe("indiepmInbox", () => {
  it("serves the sign-in page at its mount path, beside the endpoint", async () => {
    const server = engine();
    const app = express();
    app.use("/pm", indiepm({ server }));
    const inbox = indiepmInbox({ server, url: "http://127.0.0.1:9/inbox/" });
    app.use("/inbox", inbox);
    const res = await request(app).get("/inbox/");
    expect(res.status).toBe(200);
    expect(res.text).toContain('action="/inbox/signin"');
    expect(res.headers["set-cookie"]?.[0]).toMatch(/Path=\/inbox\/; Max-Age=3600; HttpOnly; SameSite=Lax$/);
    expect((await request(app).get("/inbox/static/style.css")).status).toBe(200);
    // Signed out: to the sign-in page under the mount path, which comes back to the page asked for (issue 12).
    expect((await request(app).get("/inbox/settings")).headers.location).toBe("/inbox/?return=settings");
    expect((await request(app).get("/pm/")).text).toContain("rel=pm private-messaging endpoint");
    await inbox.close();
  });

  it("mounted after the app's body parser: warned once, naming indiepmInbox() and the fix (issue 9 item 15)", async () => {
    const server = engine();
    const logger = { info: vi.fn(), warn: vi.fn(), error: vi.fn() };
    const app = express();
    app.use(express.urlencoded());
    const inbox = indiepmInbox({ server, url: "http://127.0.0.1:9/inbox/", logger });
    app.use("/inbox", inbox);
    expect((await request(app).get("/inbox/")).status).toBe(200);
    await request(app).post("/inbox/signin").type("form").send("token=wrong");
    expect(logger.warn).toHaveBeenCalledOnce();
    expect(String(logger.warn.mock.calls[0]![0])).toContain('Mount indiepmInbox() before the body parser (app.use("/inbox", indiepmInbox({ … }))');
    await inbox.close();
  });

  it.each([
    ["app.use(indiepmInbox)", () => (indiepmInbox as unknown as (...a: unknown[]) => unknown)({}, {}, () => {}), /should be `app.use\("\/inbox", indiepmInbox/],
    ["no server", () => indiepmInbox({ url: "http://127.0.0.1:9/inbox/" } as never), /option `server` must be a PmServer/],
    ["no url", () => indiepmInbox({ server: engine() } as never), /option `url` must be the absolute URL/],
    ["a typo", () => indiepmInbox({ server: engine(), url: "http://127.0.0.1:9/inbox/", pollSecond: 2 } as never), /pollSeconds/],
    [
      "a value by the web inbox's rule",
      () => indiepmInbox({ server: engine(), url: "http://127.0.0.1:9/inbox/", pollSeconds: 0 }),
      /^indiepmInbox: option `pollSeconds` must be 1 or more\.$/,
    ],
  ])("refuses %s at start-up with one sentence", (_, call, message) => {
    expect(call).toThrow(message);
  });

  it("checks its options by the web inbox's own rules: every option createWebInbox takes, its refusal as cause", async () => {
    const inbox = indiepmInbox({ server: engine(), url: "http://127.0.0.1:9/inbox/", signInsPerMinute: 3 });
    await inbox.close();
    let thrown: unknown;
    try {
      indiepmInbox({ server: engine(), url: "ftp://127.0.0.1/" });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(IndiePmExpressError);
    expect(thrown).toMatchObject({ code: "invalid_config", message: "indiepmInbox: option `url` must be http(s)." });
    expect((thrown as Error).cause).toBeInstanceOf(WebInboxError);
  });
});
