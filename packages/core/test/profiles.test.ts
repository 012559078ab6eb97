/**
 * Correspondents as people (owner/profiles.ts): the representative h-card of a site's
 * page (https://microformats.org/wiki/representative-h-card-parsing), cleaned; photos
 * fetched through the guarded client, kept only when they are small PNG, JPEG, GIF or
 * WebP images; reads that never wait for a site.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryStore } from "../src/store/index.js";
import { createPmServer } from "../src/server.js";
import { cleanName, imageType, PROFILE_LIMITS, profileFromPage, Profiles, profileKey, type AvatarDoc, type ProfileDoc } from "../src/owner/profiles.js";
import type { Lookup } from "../src/http/client.js";
import type { Store } from "../src/store/types.js";
import { closingClients, type Cleanups } from "./support/client.js";
import { startServer, TEST_TLS, type Handler, type LoopbackServer } from "./support/loopback.js";

const cleanups: Cleanups = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
const client = closingClients(cleanups);
const quiet = { info() {}, warn() {}, error() {} };

async function serve(handler: Handler, options?: Parameters<typeof startServer>[1]): Promise<LoopbackServer> {
  const server = await startServer(handler, options);
  cleanups.push(() => server.close());
  return server;
}

const PAGE = "https://bob.example/";
const page = (body: string, head = "") => `<!doctype html><html><head>${head}</head><body>${body}</body></html>`;

describe("the representative h-card (profileFromPage)", () => {
  it.each([
    [
      "uid and url equal to the page URL win over an earlier h-card",
      page(
        `<div class="h-card"><a class="u-url p-name" href="https://carol.example/">Carol</a></div>
         <div class="h-card"><a class="u-url u-uid p-name" href="/">Bob Example</a><img class="u-photo" src="/me.png" alt=""></div>`,
      ),
      { name: "Bob Example", photo: "https://bob.example/me.png" },
    ],
    [
      "a url the page also links with rel=me",
      page(
        `<div class="h-card"><a class="p-name u-url" href="https://social.example/@bob">Bob on social</a></div>
            <div class="h-card"><a class="p-name u-url" href="https://other.example/">Someone else</a></div>`,
        `<link rel="me" href="https://social.example/@bob">`,
      ),
      { name: "Bob on social" },
    ],
    ["the only h-card, its url the page's", page(`<p class="h-card"><a class="u-url" href="https://bob.example">Bob</a></p>`), { name: "Bob" }],
    ["the only h-card with another url is not the page's", page(`<p class="h-card"><a class="u-url" href="https://carol.example/">Carol</a></p>`), {}],
    [
      "an h-card that is a post's author describes the post, not the page",
      page(
        `<article class="h-entry"><div class="p-author h-card"><a class="u-url u-uid p-name" href="/">Bob the author</a></div><p class="e-content">hi</p></article>`,
      ),
      {},
    ],
    [
      "an h-card nested in a feed without being a property of it counts",
      page(`<div class="h-feed"><div class="h-card"><a class="u-url u-uid p-name" href="/">Bob in a feed</a></div></div>`),
      { name: "Bob in a feed" },
    ],
    ["no h-card at all", page(`<h1>Bob's page</h1>`), {}],
    [
      "a javascript: photo is dropped, the name kept",
      page(`<div class="h-card"><a class="u-url u-uid p-name" href="/">Bob</a><img class="u-photo" src="javascript:alert(1)" alt=""></div>`),
      { name: "Bob" },
    ],
    [
      "a data: photo is dropped (the server fetches photos, it never takes them inline)",
      page(`<div class="h-card"><a class="u-url u-uid p-name" href="/">Bob</a><img class="u-photo" src="data:image/png;base64,iVBORw0KGgo=" alt=""></div>`),
      { name: "Bob" },
    ],
    [
      "a photo on another host is kept as a URL (the server fetches it through the guarded client, the browser never does)",
      page(`<div class="h-card"><a class="u-url u-uid p-name" href="/">Bob</a><img class="u-photo" src="https://cdn.example/bob.jpg" alt=""></div>`),
      { name: "Bob", photo: "https://cdn.example/bob.jpg" },
    ],
    [
      "a name spread over lines, with control and bidi-override characters, reads as one line",
      page(`<div class="h-card"><a class="u-url u-uid" href="/"><span class="p-name">Bob
            \u202eelpmaxE\u0007</span></a></div>`),
      { name: "Bob elpmaxE" },
    ],
  ])("%s", (_name, html, expected) => {
    expect(profileFromPage(html, [PAGE])).toEqual(expected);
  });

  it("a huge name is cut to PROFILE_LIMITS.nameChars, ending with …", () => {
    const huge = "B".repeat(100_000);
    const found = profileFromPage(page(`<div class="h-card"><a class="u-url u-uid p-name" href="/">${huge}</a></div>`), [PAGE]);
    expect([...found.name!]).toHaveLength(PROFILE_LIMITS.nameChars);
    expect(found.name!.endsWith("…")).toBe(true);
    expect(cleanName("   ")).toBeUndefined();
  });

  it("the URL after redirects counts as the page's too", () => {
    const html = page(`<div class="h-card"><a class="u-url u-uid p-name" href="https://www.bob.example/">Bob</a></div>`);
    expect(profileFromPage(html, [PAGE])).toEqual({});
    expect(profileFromPage(html, [PAGE, "https://www.bob.example/"])).toEqual({ name: "Bob" });
  });
});

const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
const SVG = new TextEncoder().encode(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`);

describe("photo types by their first bytes (imageType)", () => {
  it.each([
    ["PNG", PNG, "image/png"],
    ["JPEG", Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]), "image/jpeg"],
    ["GIF89a", new TextEncoder().encode("GIF89a...."), "image/gif"],
    ["WebP", new TextEncoder().encode("RIFF\u0000\u0000\u0000\u0000WEBPVP8 "), "image/webp"],
    ["SVG", SVG, undefined],
    ["HTML", new TextEncoder().encode("<!doctype html>"), undefined],
    ["empty", new Uint8Array(0), undefined],
  ])("%s", (_name, bytes, type) => {
    expect(imageType(bytes)).toBe(type);
  });
});

/** Bob's site: a page with his h-card naming `photo`, and whatever `extra` serves. */
async function bobSite(photoPath: string | ((origin: string) => string), extra: Handler = (_req, res) => res.writeHead(404).end()) {
  return serve((req, res, self) => {
    if (req.url === "/") {
      const photo = typeof photoPath === "string" ? photoPath : photoPath(self.origin);
      res.setHeader("content-type", "text/html; charset=utf-8");
      return res.end(page(`<div class="h-card"><a class="u-url u-uid p-name" href="/">Bob Example</a><img class="u-photo" src="${photo}" alt=""></div>`));
    }
    return extra(req, res, self);
  });
}

function profiles(store: Store, http = client({ dev: true })) {
  const p = new Profiles({ store, http, now: Date.now, log: quiet });
  cleanups.push(() => p.close());
  return p;
}

describe("Profiles: fetched through the guarded client, kept in the store", () => {
  it("keeps the name and the photo, served by key and hash", async () => {
    const site = await bobSite("/me.png", (_req, res) => res.writeHead(200, { "content-type": "image/png" }).end(PNG));
    const store = createMemoryStore();
    const [person] = await profiles(store).refresh([`${site.origin}/`]);
    expect(person).toMatchObject({ site: `${site.origin}/`, name: "Bob Example" });
    const avatar = await profiles(store).avatar(person!.avatar!);
    expect(avatar).toMatchObject({ type: "image/png" });
    expect(Buffer.from(avatar!.body)).toEqual(Buffer.from(PNG));
    expect(await profiles(store).avatar(`${profileKey(`${site.origin}/`)}-0000000000000000`)).toBeNull();
    expect(await store.count("profiles")).toBe(1);
  });

  it("fetches a photo on another host itself (the guarded client's User-Agent), never handing its URL on", async () => {
    const cdn = await serve((_req, res) => res.writeHead(200, { "content-type": "image/png" }).end(PNG));
    const site = await bobSite(`${cdn.origin}/bob.png`);
    const [person] = await profiles(createMemoryStore()).refresh([`${site.origin}/`]);
    expect(person!.avatar).toMatch(/^[\w-]+-[0-9a-f]{16}$/);
    expect(cdn.requests).toHaveLength(1);
    expect(cdn.requests[0]!.headers["user-agent"]).toMatch(/^indiepm\//);
  });

  it.each([
    [
      "an SVG (it can carry script), whatever its Content-Type says",
      (res: Parameters<Handler>[1]) => res.writeHead(200, { "content-type": "image/png" }).end(SVG),
      "not a PNG",
    ],
    [
      "a photo larger than PROFILE_LIMITS.photoBytes",
      (res: Parameters<Handler>[1]) => res.writeHead(200, { "content-type": "image/png" }).end(Buffer.concat([PNG, Buffer.alloc(PROFILE_LIMITS.photoBytes)])),
      "larger than 256 KiB",
    ],
    ["a photo answering 404", (res: Parameters<Handler>[1]) => res.writeHead(404).end(), "answered 404"],
  ])("refuses %s: the name is kept, no avatar", async (_name, answer, why) => {
    const site = await bobSite("/me", (_req, res) => answer(res));
    const store = createMemoryStore();
    const [person] = await profiles(store).refresh([`${site.origin}/`]);
    expect(person).toEqual({ site: `${site.origin}/`, name: "Bob Example" });
    expect(await store.count("avatars")).toBe(0);
    expect((await store.get<ProfileDoc>("profiles", profileKey(`${site.origin}/`)))!.error).toContain(why);
  });

  it("a photo exactly PROFILE_LIMITS.photoBytes long is kept", async () => {
    const body = Buffer.concat([PNG, Buffer.alloc(PROFILE_LIMITS.photoBytes - PNG.length)]);
    const site = await bobSite("/me.png", (_req, res) => res.writeHead(200).end(body));
    const store = createMemoryStore();
    const [person] = await profiles(store).refresh([`${site.origin}/`]);
    expect(person!.avatar).toBeDefined();
    expect(Buffer.from((await store.get<AvatarDoc>("avatars", profileKey(`${site.origin}/`)))!.data, "base64")).toHaveLength(PROFILE_LIMITS.photoBytes);
  });

  it("keeps the name known when the site is down, and drops an avatar whose photo went away", async () => {
    let up = true;
    let photo = true;
    const site = await serve((req, res) => {
      if (!up) return res.writeHead(503).end();
      if (req.url === "/me.png") return res.writeHead(200).end(PNG);
      return res.end(
        page(`<div class="h-card"><a class="u-url u-uid p-name" href="/">Bob</a>${photo ? `<img class="u-photo" src="/me.png" alt="">` : ""}</div>`),
      );
    });
    const store = createMemoryStore();
    const p = profiles(store);
    expect((await p.refresh([`${site.origin}/`]))[0]).toMatchObject({ name: "Bob", avatar: expect.any(String) });
    up = false;
    expect((await p.refresh([`${site.origin}/`]))[0]).toMatchObject({ name: "Bob", avatar: expect.any(String) });
    up = true;
    photo = false;
    expect((await p.refresh([`${site.origin}/`]))[0]).toEqual({ site: `${site.origin}/`, name: "Bob" });
    expect(await store.count("avatars")).toBe(0);
  });

  it("people() answers from the store at once and reads a missing profile in the background", async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const site = await serve(async (_req, res) => {
      await held;
      res.end(page(`<div class="h-card"><a class="u-url u-uid p-name" href="/">Slow Bob</a></div>`));
    });
    const p = profiles(createMemoryStore());
    const started = Date.now();
    expect(await p.people([`${site.origin}/`, `${site.origin}/`])).toEqual([{ site: `${site.origin}/` }]);
    expect(Date.now() - started).toBeLessThan(500);
    await p.people([`${site.origin}/`]); // asked again while the first read runs: still one request
    release();
    await p.settled();
    expect(site.requests).toHaveLength(1);
    expect(await p.people([`${site.origin}/`])).toEqual([{ site: `${site.origin}/`, name: "Slow Bob" }]);
  });
});

describe("when a profile is read again", () => {
  it("not because the owner looked (a fetch timed by reading would tell the site), but when the server deals with the site", async () => {
    const site = await serve((_req, res) => res.end(page(`<div class="h-card"><a class="u-url u-uid p-name" href="/">Bob</a></div>`)));
    let clock = Date.parse("2026-01-01T00:00:00Z");
    const p = new Profiles({ store: createMemoryStore(), http: client({ dev: true }), now: () => clock, log: quiet });
    cleanups.push(() => p.close());
    const url = `${site.origin}/`;
    const pages = () => site.requests.filter((r) => r.url === "/").length;
    await p.people([url]);
    await p.settled();
    expect(pages()).toBe(1); // never read: read once, in the background
    clock += 2 * PROFILE_LIMITS.freshMs;
    await p.people([url]);
    await p.settled();
    expect(pages()).toBe(1); // two days old, looked at: not read
    p.noteContact(url);
    await p.settled();
    expect(pages()).toBe(2); // the server discovered the site anyway: read again
    p.noteContact(url);
    clock += PROFILE_LIMITS.retryMs + 1;
    p.noteContact(url);
    await p.settled();
    expect(pages()).toBe(2); // fresh now: the store says so, nothing fetched
  });
});

describe("Profiles in production mode: the guarded client's §6 checks apply to pages and photos", () => {
  function fakeDns(table: Record<string, string[]>): Lookup {
    return async (hostname: string) => {
      const addresses = table[hostname];
      if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
      return addresses.map((address) => ({ address, family: 4 as const }));
    };
  }
  const production = () => client({ dev: false, lookup: fakeDns({ "allowed.test": ["127.0.0.1"] }), ca: TEST_TLS.cert, allowedAddresses: ["127.0.0.1"] });

  it.each([
    [302, undefined],
    [307, undefined],
    [301, "Stranger"],
    [308, "Stranger"],
  ])("a site page redirecting (%i) to another origin: its h-card is the site's only for a permanent move (§6 Identity)", async (status, name) => {
    const stranger = await serve((_req, res) =>
      res.writeHead(200, { "content-type": "text/html" }).end(page(`<div class="h-card"><a class="u-url u-uid p-name" href="/">Stranger</a></div>`)),
    );
    const site = await serve((_req, res) => res.writeHead(status, { location: `${stranger.origin}/` }).end());
    const store = createMemoryStore();
    const [person] = await profiles(store).refresh([`${site.origin}/`]);
    expect(person).toEqual({ site: `${site.origin}/`, ...(name ? { name } : {}) });
    const [doc] = await store.find<ProfileDoc>("profiles");
    if (name) expect(doc!.error).toBeUndefined();
    else expect(doc!.error).toContain(`temporary redirect (${status}) to another origin`);
  });

  it("a site page redirecting to 127.0.0.1 is refused: nothing is kept", async () => {
    const inside = await serve((_req, res) => res.end(page(`<div class="h-card"><a class="u-url u-uid p-name" href="/">Inside</a></div>`)), { tls: true });
    const site = await serve((_req, res) => res.writeHead(302, { location: `https://127.0.0.1:${inside.port}/` }).end(), { tls: true });
    const store = createMemoryStore();
    const [person] = await profiles(store, production()).refresh([`https://allowed.test:${site.port}/`]);
    expect(person).toEqual({ site: `https://allowed.test:${site.port}/` });
    expect(inside.connections).toBe(0);
    expect((await store.get<ProfileDoc>("profiles", profileKey(`https://allowed.test:${site.port}/`)))!.error).toMatch(/Refused/);
  });

  it("a photo redirecting to 127.0.0.1 is refused: the name is kept, no avatar", async () => {
    const inside = await serve((_req, res) => res.end(PNG), { tls: true });
    const site = await serve(
      (req, res) =>
        req.url === "/"
          ? res.end(page(`<div class="h-card"><a class="u-url u-uid p-name" href="/">Bob</a><img class="u-photo" src="/me.png" alt=""></div>`))
          : res.writeHead(302, { location: `https://127.0.0.1:${inside.port}/me.png` }).end(),
      { tls: true },
    );
    const store = createMemoryStore();
    const [person] = await profiles(store, production()).refresh([`https://allowed.test:${site.port}/`]);
    expect(person).toEqual({ site: `https://allowed.test:${site.port}/`, name: "Bob" });
    expect(inside.connections).toBe(0);
    expect(await store.count("avatars")).toBe(0);
  });
});

describe("the owner API: GET /api/profiles and /api/avatars/{id}", () => {
  it("answers the people of the sites named, and a kept photo by its id", async () => {
    const site = await bobSite("/me.png", (_req, res) => res.writeHead(200).end(PNG));
    const token = "owner-token-for-tests-0123456789";
    const pm = createPmServer({
      endpoint: "http://127.0.0.1:9/",
      sites: ["http://127.0.0.1:8/"],
      store: createMemoryStore(),
      dev: true,
      ownerToken: token,
      logger: quiet,
    });
    cleanups.push(() => pm.close());
    const [person] = await pm.refreshPeople([`${site.origin}/`]);
    const get = (path: string) => pm.handle(new Request(`http://127.0.0.1:9${path}`, { headers: { authorization: `Bearer ${token}` } }));
    const listed = await get(`/api/profiles?site=${encodeURIComponent(`${site.origin}/`)}&site=${encodeURIComponent("http://127.0.0.1:7/")}`);
    expect(await listed.json()).toEqual([person, { site: "http://127.0.0.1:7/" }]);
    const photo = await get(`/api/avatars/${person!.avatar}`);
    expect(photo.status).toBe(200);
    expect(photo.headers.get("content-type")).toBe("image/png");
    expect(photo.headers.get("x-content-type-options")).toBe("nosniff");
    expect(Buffer.from(await photo.arrayBuffer())).toEqual(Buffer.from(PNG));
    expect((await get(`/api/avatars/${profileKey(`${site.origin}/`)}-0000000000000000`)).status).toBe(400);
  });
});
