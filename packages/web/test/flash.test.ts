/**
 * The flash (src/flash.ts): what a form's POST hands the GET it redirects to — the error,
 * its field and the values typed — kept in the store by the engine's owner sessions,
 * bound to the session that made it, good for one read, gone after its lifetime.
 */
import { createMemoryStore, createPmServer, type PmServer } from "@indiepm/core";
import { openPostgresStore } from "@indiepm/store-postgres";
import { type FreshDatabase, freshDatabase, postgresForTests } from "@indiepm/test-support";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createFlash, FLASH_LIFETIME_MS } from "../src/flash.js";
import { quiet } from "./support.js";

let pm: PmServer;
let clock: number;
const alice = { secret: "alice-session-secret-0123456789" };
const mallory = { secret: "mallory-session-secret-0123456" };
const data = { form: "contacts/add", error: { field: "site", message: "Enter the address of a site." }, values: { site: "not a site!!" } };

beforeEach(async () => {
  clock = Date.UTC(2026, 11, 7, 8);
  pm = createPmServer({
    endpoint: "http://127.0.0.1:9/",
    sites: ["http://127.0.0.1:9/a/"],
    store: createMemoryStore(),
    dev: true,
    logger: quiet,
    now: () => clock,
  });
});
afterEach(() => pm.close(0));

const query = (location: string) => new URL(location, "http://inbox.example").searchParams;

describe("a flash", () => {
  it("is read once by the session that made it, with what was put", async () => {
    const flash = createFlash(pm);
    const location = await flash.location(alice, "/settings", data);
    expect(location).toMatch(/^\/settings\?flash=[\w-]{40,}$/);
    expect(await flash.take(alice, query(location))).toEqual(data);
    // A reload of the same address: nothing to show, nothing re-submitted.
    expect(await flash.take(alice, query(location))).toBeNull();
  });

  it("keeps the location's query and fragment", async () => {
    const flash = createFlash(pm);
    expect(await flash.location(alice, "/c/x?notice=sent#reply", {})).toMatch(/^\/c\/x\?notice=sent&flash=[\w-]+#reply$/);
    expect(await flash.location(alice, "/settings#contacts-h", {})).toMatch(/^\/settings\?flash=[\w-]+#contacts-h$/);
  });

  it("is nothing to another session, and spent by its read", async () => {
    const flash = createFlash(pm);
    const location = await flash.location(alice, "/settings", data);
    expect(await flash.take(mallory, query(location))).toBeNull();
    expect(await flash.take(alice, query(location))).toBeNull();
  });

  it("is nothing after its lifetime", async () => {
    const flash = createFlash(pm);
    const location = await flash.location(alice, "/settings", data);
    clock += FLASH_LIFETIME_MS + 1;
    expect(await flash.take(alice, query(location))).toBeNull();
  });

  it("is stored without the session's secret or its own", async () => {
    const flash = createFlash(pm);
    const secret = query(await flash.location(alice, "/settings", data)).get("flash")!;
    const stored = JSON.stringify(await pm.sessions.get("web-flash", secret));
    expect(stored).toContain("not a site!!");
    expect(stored).not.toContain(alice.secret);
    expect(stored).not.toContain(secret);
  });

  it("an address without one, or with a made-up one, reads as none", async () => {
    const flash = createFlash(pm);
    expect(await flash.take(alice, new URLSearchParams())).toBeNull();
    expect(await flash.take(alice, new URLSearchParams({ flash: "x".repeat(43) }))).toBeNull();
  });

  it("another instance on the same store reads it (any instance may answer the GET)", async () => {
    const store = createMemoryStore();
    const one = createPmServer({ endpoint: "http://127.0.0.1:9/", sites: ["http://127.0.0.1:9/a/"], store, dev: true, logger: quiet });
    const two = createPmServer({ endpoint: "http://127.0.0.1:9/", sites: ["http://127.0.0.1:9/a/"], store, dev: true, logger: quiet });
    const location = await createFlash(one).location(alice, "/settings", data);
    expect(await createFlash(two).take(alice, query(location))).toEqual(data);
    await Promise.all([one.close(0), two.close(0)]);
  });
});

const postgres = await postgresForTests();

describe.skipIf(postgres.skipReason)("a flash on PostgreSQL", () => {
  let database: FreshDatabase;
  beforeAll(async () => {
    database = await freshDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  it("made by one instance is read once by another on the same database, and by no other session", async () => {
    const open = async () =>
      createPmServer({
        endpoint: "http://127.0.0.1:9/",
        sites: ["http://127.0.0.1:9/a/"],
        store: await openPostgresStore(database.url, { schema: "flash", poolSize: 2 }),
        dev: true,
        logger: quiet,
      });
    const one = await open();
    const two = await open();
    try {
      const location = await createFlash(one).location(alice, "/settings", data);
      expect(await createFlash(two).take(mallory, query(location))).toBeNull();
      const again = await createFlash(one).location(alice, "/settings", data);
      expect(await createFlash(two).take(alice, query(again))).toEqual(data);
      expect(await createFlash(one).take(alice, query(again))).toBeNull();
    } finally {
      await Promise.all([one.close(0), two.close(0)]);
    }
  });
});
