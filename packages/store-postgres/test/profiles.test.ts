/**
 * Correspondents' profiles on PostgreSQL (core owner/profiles.ts, migration 4): an
 * engine on this store reads a site's h-card and photo, keeps them, answers `people`
 * from one `getMany`, serves the photo, and another engine on the same database sees
 * them without fetching again.
 */
import { createServer } from "node:http";
import { createPmServer } from "@indiepm/core";
import { closeServer, type FreshDatabase, freshDatabase, listenLoopback, postgresForTests } from "@indiepm/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPostgresStore } from "../src/index.js";

const quiet = { info() {}, warn() {}, error() {} };
const server = await postgresForTests();
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);

describe.skipIf(server.skipReason)("profiles on PostgreSQL", () => {
  let database: FreshDatabase;
  const site = createServer();
  let siteUrl: string;
  let pageRequests = 0;

  beforeAll(async () => {
    database = await freshDatabase();
    site.on("request", (req, res) => {
      if (req.url === "/me.png") return res.writeHead(200, { "content-type": "image/png" }).end(PNG);
      pageRequests++;
      return res.end(
        `<!doctype html><div class="h-card"><a class="u-url u-uid p-name" href="/">Bob Example</a><img class="u-photo" src="/me.png" alt=""></div>`,
      );
    });
    siteUrl = await listenLoopback(site);
  });
  afterAll(async () => {
    await closeServer(site);
    await database?.drop();
  });

  async function engine() {
    const store = await openPostgresStore(database.url, { poolSize: 2, warmConnections: 0 });
    return createPmServer({ endpoint: "http://127.0.0.1:9/", sites: ["http://127.0.0.1:8/"], store, dev: true, logger: quiet });
  }

  it("keeps a profile and its photo, read back by another engine without a fetch", async () => {
    const first = await engine();
    const [person] = await first.refreshPeople([siteUrl]);
    expect(person).toMatchObject({ site: siteUrl, name: "Bob Example" });
    await first.close();

    const second = await engine();
    try {
      expect(await second.people([siteUrl, "http://127.0.0.1:7/"])).toEqual([person, { site: "http://127.0.0.1:7/" }]);
      const photo = await second.avatar(person!.avatar!);
      expect(photo?.type).toBe("image/png");
      expect(Buffer.from(photo!.body)).toEqual(PNG);
      expect(pageRequests).toBe(1);
    } finally {
      await second.close();
    }
  });
});
