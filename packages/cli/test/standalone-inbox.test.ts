/** `indiepm serve`'s root: the federation endpoint at `POST /`, the owner's web inbox at `GET /` (issue 5). */
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryStore } from "@indiepm/core";
import { startServer, type StandaloneServer } from "../src/index.js";

const quiet = { info() {}, warn() {}, error() {} };
let server: StandaloneServer | undefined;
afterEach(async () => {
  await server?.close(1_000);
  server = undefined;
});

describe("the standalone server's web inbox", () => {
  it("answers GET / with the sign-in page and keeps POST / and /api/ for the engine", async () => {
    server = await startServer({
      port: 0,
      dev: true,
      sites: ["http://127.0.0.1:9/"],
      store: createMemoryStore(),
      ownerToken: "owner-token-0123456789",
      logger: quiet,
    });
    expect(server.inbox?.url).toBe(server.url);
    const page = await fetch(server.url);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(await page.text()).toMatch(/<input id="me" name="me"/);
    const federation = await fetch(server.url, { method: "POST", body: new URLSearchParams({ action: "notify" }) });
    expect(federation.status).toBe(400);
    expect(await federation.json()).toMatchObject({ error: "invalid_request" });
    const api = await fetch(new URL("api/inbox", server.url), { headers: { authorization: "Bearer owner-token-0123456789" } });
    expect(api.status).toBe(200);
  });

  it("leaves the engine's page at GET / with inbox: false", async () => {
    server = await startServer({ port: 0, dev: true, inbox: false, store: createMemoryStore(), logger: quiet });
    expect(server.inbox).toBeUndefined();
    expect(await (await fetch(server.url)).text()).toContain("rel=pm private-messaging endpoint");
  });
});
