/**
 * PROTOCOL.md §7 "Who may write", as the owner keeps it: stored settings on top of the
 * `policies` option, their changes, and the vouch of a first contact.
 */
import { describe, expect, it } from "vitest";
import { createPmServer } from "../src/server.js";
import { createMemoryStore } from "../src/store/memory.js";
import { blockedBy, effectiveSettings, linksInHtml, parseBlockEntry, verdictFor } from "@indiepm/protocol";
import { checkVouch, pageLinksTo, vouchingContact } from "../src/protocol/vouch.js";
import { PmError } from "../src/errors.js";
import type { FetchedPage, HttpClient } from "../src/http/types.js";

const BOB = "https://bob.example.com/";
const ALICE = "https://alice.example.org/";
const CAROL = "https://carol.example/";
const quiet = { info() {}, warn() {}, error() {} };

describe("§7 stored settings on top of the configured policy", () => {
  it.each([
    ["nothing: anyone", undefined, null, { policy: "anyone", contacts: [], blocked: [] }],
    ["configured only", { policy: "contacts" as const, contacts: [ALICE] }, null, { policy: "contacts", contacts: [ALICE], blocked: [] }],
    ["the stored policy wins", { policy: "contacts" as const }, { _id: BOB, policy: "nobody" as const }, { policy: "nobody", contacts: [], blocked: [] }],
    ["lists add up", { blocked: [CAROL] }, { _id: BOB, blocked: [ALICE], contacts: [CAROL] }, { policy: "anyone", contacts: [CAROL], blocked: [CAROL, ALICE] }],
  ])("%s", (_, configured, doc, expected) => {
    expect(effectiveSettings(BOB, configured, doc)).toMatchObject(expected);
  });

  it.each([
    ["anyone lets a stranger in", { policy: "anyone" }, "allowed"],
    ["nobody refuses", { policy: "nobody" }, "refused"],
    ["contacts refuses a stranger", { policy: "contacts" }, "refused"],
    ["contacts admits a hand-added contact", { policy: "contacts", contacts: [ALICE] }, "allowed"],
    ["contacts admits a site written to", { policy: "contacts", wroteTo: [ALICE] }, "allowed"],
    ["the block list wins over a contact", { policy: "contacts", contacts: [ALICE], blocked: [ALICE] }, "blocked"],
    ["a host entry blocks the site at its root", { policy: "anyone", blocked: ["host:alice.example.org"] }, "blocked"],
    ["a host entry wins over a contact", { policy: "contacts", contacts: [ALICE], blocked: ["host:alice.example.org"] }, "blocked"],
    ["a host entry of another host lets in", { policy: "anyone", blocked: ["host:example.org"] }, "allowed"],
  ] as const)("%s", (_, s, verdict) => {
    const settings = {
      site: BOB,
      policy: s.policy,
      contacts: [...("contacts" in s ? s.contacts : [])],
      wroteTo: [...("wroteTo" in s ? s.wroteTo : [])],
      blocked: [...("blocked" in s ? s.blocked : [])],
      configured: {},
    };
    expect(verdictFor(settings, ALICE)).toBe(verdict);
  });
});

describe("§7 block list by host (issue 9 item 10)", () => {
  it.each([
    ["an exact URL blocks that site", ["https://spam.example/"], "https://spam.example/", true],
    ["an exact URL does not block another site on its host", ["https://spam.example/"], "https://spam.example/~x/", false],
    ["a host entry blocks the site at its root", ["host:spam.example"], "https://spam.example/", true],
    ["a host entry blocks every site on the host", ["host:spam.example"], "https://spam.example/~x/", true],
    ["a host entry without a port blocks every port", ["host:spam.example"], "http://spam.example:8080/~x/", true],
    ["a host entry with a port blocks that port", ["host:spam.example:8080"], "http://spam.example:8080/~x/", true],
    ["a host entry with a port lets other ports in", ["host:spam.example:8080"], "https://spam.example/~x/", false],
    ["a host entry with the default port blocks it", ["host:spam.example:443"], "https://spam.example/", true],
    ["a host entry does not block a subdomain", ["host:spam.example"], "https://www.spam.example/", false],
    ["a host entry does not block a host it ends with", ["host:spam.example"], "https://notspam.example/", false],
    ["a URL on the host in the list is not a host entry", ["https://spam.example/~x/"], "https://spam.example/~y/", false],
  ])("%s", (_, blocked, sender, refused) => {
    expect(blockedBy(blocked, sender)).toBe(refused);
  });

  it.each([
    ["host:spam.example", "host:spam.example"],
    ["  HOST:Spam.EXAMPLE ", "host:spam.example"],
    ["host:spam.example:08443", "host:spam.example:8443"],
    ["host:bücher.example", "host:xn--bcher-kva.example"],
    ["host:127.0.0.1:4001", "host:127.0.0.1:4001"],
    ["host:[::1]:4001", "host:[::1]:4001"],
    ["https://spam.example", "https://spam.example/"],
  ])("%j is kept as %j", (entry, canonical) => {
    expect(parseBlockEntry(entry, "block")).toBe(canonical);
  });

  it.each(["host:", "host:spam.example/~x/", "host:me@spam.example", "host:spam.example?x", "host:spam example", "spam.example"])(
    "refuses %j, naming the field",
    (entry) => {
      expect(() => parseBlockEntry(entry, "block")).toThrow(expect.objectContaining({ code: "invalid_request", message: expect.stringMatching(/^block/) }));
    },
  );

  it("keeps host entries through updateSettings and the policies option, and unblocks them", async () => {
    const pm = createPmServer({
      endpoint: "http://127.0.0.1:9/",
      sites: [BOB],
      store: createMemoryStore(),
      dev: true,
      logger: quiet,
      policies: { [BOB]: { blocked: ["host:Configured.Example"] } },
    });
    expect((await pm.updateSettings(BOB, { block: ["host:Spam.Example"] })).blocked).toEqual(["host:configured.example", "host:spam.example"]);
    expect((await pm.updateSettings(BOB, { unblock: ["host:spam.example"] })).blocked).toEqual(["host:configured.example"]);
    expect(() =>
      createPmServer({
        endpoint: "http://127.0.0.1:9/",
        sites: [BOB],
        store: createMemoryStore(),
        dev: true,
        logger: quiet,
        policies: { [BOB]: { blocked: ["host:x/y"] } },
      }),
    ).toThrow(/policies\["https:\/\/bob\.example\.com\/"\]\.blocked\[0\]`: "host:x\/y" is not a host entry/);
  });
});

describe("§7 settings changes (PmServer.updateSettings)", () => {
  const server = () =>
    createPmServer({
      endpoint: "http://127.0.0.1:9/",
      sites: [BOB],
      store: createMemoryStore(),
      dev: true,
      logger: quiet,
      policies: { [BOB]: { blocked: [CAROL] } },
    });

  it("sets the policy, adds and removes contacts, blocks and unblocks, in canonical form", async () => {
    const pm = server();
    await pm.updateSettings(BOB, { policy: "contacts", addContacts: ["https://alice.example.org"], block: ["https://mallory.example"] });
    let s = await pm.settings("https://bob.example.com");
    expect(s).toMatchObject({ policy: "contacts", contacts: [ALICE], blocked: [CAROL, "https://mallory.example/"] });
    await pm.updateSettings(BOB, { removeContacts: [ALICE], unblock: ["https://mallory.example/"] });
    s = await pm.settings(BOB);
    expect(s.contacts).toEqual([]);
    // A configured block stays: the owner's changes add to the configuration.
    expect(s.blocked).toEqual([CAROL]);
  });

  it("keeps a webhook URL, and removes it with null", async () => {
    const pm = server();
    expect((await pm.updateSettings(BOB, { webhook: "http://127.0.0.1:8/hook" })).webhook).toBe("http://127.0.0.1:8/hook");
    expect((await pm.updateSettings(BOB, { webhook: null })).webhook).toBeUndefined();
  });

  it.each([
    ["an unknown policy", { policy: "friends" }, /policy must be/],
    ["a contact that is not a URL", { addContacts: ["alice"] }, /addContacts is not an absolute URL/],
    ["a webhook that is not a URL", { webhook: "nope" }, /webhook is not an absolute URL/],
  ])("refuses %s with a sentence naming the field", async (_, change, message) => {
    await expect(server().updateSettings(BOB, change as never)).rejects.toThrow(message);
  });

  it("refuses a site this server does not hold", async () => {
    await expect(server().settings(ALICE)).rejects.toMatchObject({ code: "invalid_request" });
  });

  it("refuses a webhook on a private address in production", async () => {
    const pm = createPmServer({ endpoint: "https://pm.bob.example.net/", sites: [BOB], store: createMemoryStore(), logger: quiet });
    await expect(pm.updateSettings(BOB, { webhook: "http://hooks.example/" })).rejects.toThrow(/only https/);
  });
});

describe("§7 vouch", () => {
  it.each([
    ["a page on the contact's site", "https://carol.example/friends", [CAROL], CAROL],
    ["a page under a contact's path", "https://host.example/~carol/likes", ["https://host.example/~carol/"], "https://host.example/~carol/"],
    ["another path on the same host", "https://host.example/~mallory/", ["https://host.example/~carol/"], undefined],
    ["another site", "https://mallory.example/", [CAROL], undefined],
  ])("%s", (_, vouch, contacts, expected) => {
    expect(vouchingContact(vouch, contacts)).toBe(expected);
  });

  it.each([
    ["an <a> to the sender", `<a href="https://alice.example.org/">Alice</a>`, true],
    ["a relative link under <base>", `<base href="https://alice.example.org/blog/"><a href="/">Alice</a>`, true],
    ["a link in a comment does not count", `<!-- <a href="https://alice.example.org/">Alice</a> -->`, false],
    ["a link inside <template> does not count", `<template><a href="https://alice.example.org/">x</a></template>`, false],
    ["another page of the sender's site is not the site", `<a href="https://alice.example.org/about">Alice</a>`, false],
  ])("%s", (_, html, expected) => {
    expect(pageLinksTo(html, "https://carol.example/friends", ALICE)).toBe(expected);
  });

  it("reads rel tokens in lower case", () => {
    expect(linksInHtml(`<link rel="Authorization_Endpoint  me" href="/auth">`, "https://a.example/")).toEqual([
      { element: "link", rel: ["authorization_endpoint", "me"], href: "https://a.example/auth" },
    ]);
  });

  const page = (status: number, body: string, url = "https://carol.example/friends", type = "text/html"): HttpClient => ({
    async get(): Promise<FetchedPage> {
      return { url, status, headers: new Headers({ "content-type": type }), body: new TextEncoder().encode(body), truncated: false, redirects: [url] };
    },
    async postForm() {
      throw new Error("no POST");
    },
  });
  const linking = `<a href="${ALICE}">Alice</a>`;

  it.each([
    ["admits a sender the page links to", page(200, linking), undefined],
    ["refuses a page that does not link", page(200, "<p>nobody</p>"), "forbidden"],
    ["refuses a page that is gone", page(404, linking), "forbidden"],
    ["refuses a redirect off the contact's site", page(200, linking, "https://mallory.example/"), "forbidden"],
    ["refuses a page that is not HTML", page(200, linking, undefined, "text/plain"), "forbidden"],
    ["asks to come back when the page fails", page(502, ""), "temporarily_unavailable"],
  ])("%s", async (_, http, code) => {
    const result = checkVouch(http, "https://carol.example/friends", ALICE, [CAROL]);
    if (code === undefined) await expect(result).resolves.toBeUndefined();
    else await expect(result).rejects.toMatchObject({ code });
  });

  it("fetches nothing for a page off the contacts' sites", async () => {
    let fetched = 0;
    const http: HttpClient = { get: async () => (fetched++, Promise.reject(new Error("x"))), postForm: async () => Promise.reject(new Error("x")) };
    await expect(checkVouch(http, "https://mallory.example/", ALICE, [CAROL])).rejects.toBeInstanceOf(PmError);
    expect(fetched).toBe(0);
  });
});
