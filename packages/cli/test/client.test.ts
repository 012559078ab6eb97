/**
 * The client commands (CLI.md send / inbox / outbox) against real standalone servers
 * started in-process with `startServer` on loopback: alice's and bob's sites and pm
 * servers, the seed's four hosts.
 */
import { createMemoryStore } from "@indiepm/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer, type StandaloneServer } from "../src/index.js";
import { closedPort, runMain, tinyServer, type TinyServer } from "./helpers.js";

const TOKEN = "owner-token-for-tests-0123456789";
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

let aliceSite: TinyServer;
let bobSite: TinyServer;
let carolSite: TinyServer;
let alice: StandaloneServer;
let bob: StandaloneServer;
const endpoints: Record<string, string> = {};

/** A site whose home page names its pm endpoint in a Link header (PROTOCOL.md §1). */
function site(name: string): Promise<TinyServer> {
  return tinyServer((_req, res) => {
    res.setHeader("content-type", "text/html");
    if (endpoints[name]) res.setHeader("link", `<${endpoints[name]}>; rel="pm"`);
    res.end(`<title>${name}</title>`);
  });
}

beforeAll(async () => {
  aliceSite = await site("alice");
  bobSite = await site("bob");
  carolSite = await site("carol");
  const common = { port: 0, dev: true, ownerToken: TOKEN, logger: quiet, retry: { baseDelayMs: 50, maxDelayMs: 200 } };
  alice = await startServer({ ...common, sites: [aliceSite.url], store: createMemoryStore() });
  // One pm server may serve many sites (PROTOCOL.md, Actors): bob's also holds carol's.
  bob = await startServer({ ...common, sites: [bobSite.url, carolSite.url], store: createMemoryStore() });
  endpoints.alice = alice.url;
  endpoints.bob = bob.url;
  endpoints.carol = bob.url;
});

afterAll(async () => {
  await Promise.all([alice?.close(1000), bob?.close(1000)]);
  await Promise.all([aliceSite?.close(), bobSite?.close(), carolSite?.close()]);
});

const as = (server: StandaloneServer) => ({ INDIEPM_SERVER: server.url, INDIEPM_TOKEN: TOKEN });

describe("startServer", () => {
  it("listens on a free port and reports its endpoint URL", () => {
    expect(alice.url).toBe(`http://127.0.0.1:${alice.port}/`);
    expect(alice.server.sites).toEqual([aliceSite.url]);
  });
});

describe("a request node:http cannot parse", () => {
  it("gets the §2 JSON error, not a bare 400", async () => {
    const { connect } = await import("node:net");
    const url = new URL(bob.url);
    const socket = connect(Number(url.port), url.hostname);
    // The body ends before its Content-Length, then the client half-closes.
    socket.end("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 10\r\n\r\naction");
    let answer = "";
    for await (const chunk of socket) answer += chunk;
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4))).toMatchObject({ error: "invalid_request" });
  });
});

describe("indiepm send", () => {
  it("delivers and prints exactly one JSON document with --json; exit 0", async () => {
    const { code, stdout, stderr } = await runMain(
      ["send", "--from", aliceSite.url, "--to", bobSite.url, "--subject", "Lunch?", "--timeout", "20", "--json", "Shall", "we?"],
      as(alice),
    );
    expect(stderr).toContain("delivered to");
    expect(code).toBe(0);
    const doc = JSON.parse(stdout) as { message: string; deliveries: unknown[] };
    expect(doc).toEqual({ message: expect.any(String), deliveries: [{ recipient: bobSite.url, status: "delivered" }] });

    const inbox = await runMain(["inbox", "--json"], as(bob));
    expect(inbox.code).toBe(0);
    const messages = JSON.parse(inbox.stdout) as Record<string, unknown>[];
    const got = messages.find((m) => m.message === doc.message);
    expect(got).toEqual({
      message: doc.message,
      sender: aliceSite.url,
      recipient: bobSite.url,
      content: "Shall we?",
      published: expect.any(String),
      receivedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/),
      name: "Lunch?",
    });

    const outbox = await runMain(["outbox", "--json", "--site", aliceSite.url], as(alice));
    expect(outbox.code).toBe(0);
    const sent = (JSON.parse(outbox.stdout) as Record<string, unknown>[]).find((m) => m.message === doc.message);
    expect(sent).toEqual({
      message: doc.message,
      sender: aliceSite.url,
      content: "Shall we?",
      published: expect.any(String),
      name: "Lunch?",
      deliveries: [{ recipient: bobSite.url, status: "delivered" }],
    });
  });

  it("--no-wait exits 0 once the server took the message", async () => {
    const { code, stdout } = await runMain(["send", "--from", aliceSite.url, "--to", "http://127.0.0.1:9/", "--no-wait", "--json", "hi"], as(alice));
    expect(code).toBe(0);
    const doc = JSON.parse(stdout) as { deliveries: { status: string }[] };
    expect(doc.deliveries).toEqual([{ recipient: "http://127.0.0.1:9/", status: "pending" }]);
  });

  it("prints pending where --timeout ran out first, and exits 1", async () => {
    const { code, stdout, stderr } = await runMain(
      ["send", "--from", aliceSite.url, "--to", "http://127.0.0.1:9/", "--timeout", "1", "--json", "hi"],
      as(alice),
    );
    expect(code).toBe(1);
    expect(JSON.parse(stdout).deliveries).toEqual([{ recipient: "http://127.0.0.1:9/", status: "pending" }]);
    expect(stderr).toMatch(/--timeout \(1 s\) ran out/);
  });

  it("prints nothing on stdout when the server did not take the message", async () => {
    const { code, stdout, stderr } = await runMain(["send", "--from", "http://127.0.0.1:5/", "--to", bobSite.url, "--json", "hi"], as(alice));
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toMatch(/^indiepm send: the server refused: .*\(invalid_request\)\.\n$/);
  });

  it("a recipient whose site names no pm endpoint: refused before it is taken, nothing on stdout, exit 1 (issue 12)", async () => {
    const nobody = await site("nobody");
    const before = (await alice.server.outbox()).length;
    try {
      const { code, stdout, stderr } = await runMain(["send", "--from", aliceSite.url, "--to", nobody.url, "--json", "hi"], as(alice));
      expect(code).toBe(1);
      expect(stdout).toBe("");
      expect(stderr).toMatch(/^indiepm send: the server refused: 127\.0\.0\.1:\d+ does not take private messages \(.*rel=pm.*\) \(invalid_request\)\.\n$/);
      expect(await alice.server.outbox()).toHaveLength(before);
    } finally {
      await nobody.close();
    }
  });
});

describe("owner API failures", () => {
  it("a wrong token exits 1 with a sentence", async () => {
    const { code, stdout, stderr } = await runMain(["inbox"], { INDIEPM_SERVER: bob.url, INDIEPM_TOKEN: "wrong-token-wrong-token" });
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toBe("indiepm inbox: the server refused the owner token; check INDIEPM_TOKEN or --token.\n");
  });

  it("--token and --server win over the environment", async () => {
    const { code } = await runMain(["inbox", "--server", bob.url, "--token", TOKEN], { INDIEPM_SERVER: "http://127.0.0.1:9/", INDIEPM_TOKEN: "x" });
    expect(code).toBe(0);
  });

  it("an unreachable server exits 1 with a sentence", async () => {
    const port = await closedPort();
    const { code, stderr } = await runMain(["outbox", "--server", `http://127.0.0.1:${port}/`], { INDIEPM_TOKEN: TOKEN });
    expect(code).toBe(1);
    expect(stderr).toBe(`indiepm outbox: could not reach the server at http://127.0.0.1:${port}/ (ECONNREFUSED).\n`);
  });
});

describe("human-readable listings", () => {
  it("inbox and outbox print a compact listing", async () => {
    const inbox = await runMain(["inbox"], as(bob));
    expect(inbox.code).toBe(0);
    expect(inbox.stdout).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}http:\/\/127\.0\.0\.1:\d+\/ → http:\/\/127\.0\.0\.1:\d+\/\n {2}Lunch\?\n {2}Shall we\?\n/,
    );
    const outbox = await runMain(["outbox"], as(alice));
    expect(outbox.code).toBe(0);
    expect(outbox.stdout).toMatch(/delivered +http:\/\/127\.0\.0\.1:\d+\//);
  });

  it("an empty inbox says so", async () => {
    const { code, stdout } = await runMain(["inbox"], as(alice));
    expect(code).toBe(0);
    expect(stdout).toBe("No messages.\n");
  });
});

// Last: these add newer messages, which the listings above would otherwise show first.
describe("indiepm send to a group", () => {
  it("several --to show each recipient the others (to); --html, --reply-to carried; --hide-recipients shows none", async () => {
    const inReplyTo = "urn:uuid:0b7d2c4e-6a51-4c3e-9f0a-2f6c1d9e8a77";
    const received = async (message: string) =>
      (JSON.parse((await runMain(["inbox", "--json"], as(bob))).stdout) as Record<string, unknown>[]).filter((m) => m.message === message);

    const group = await runMain(
      [
        "send",
        "--from",
        aliceSite.url,
        "--to",
        bobSite.url,
        "--to",
        carolSite.url,
        "--html",
        "<p>Hi <b>both</b></p>",
        "--reply-to",
        inReplyTo,
        "--timeout",
        "20",
        "--json",
        "Hi both",
      ],
      as(alice),
    );
    expect(group.code).toBe(0);
    const sent = JSON.parse(group.stdout) as { message: string; deliveries: unknown[] };
    expect(sent.deliveries).toEqual([
      { recipient: bobSite.url, status: "delivered" },
      { recipient: carolSite.url, status: "delivered" },
    ]);
    const copies = await received(sent.message);
    expect(copies.map((m) => m.recipient).sort()).toEqual([bobSite.url, carolSite.url].sort());
    for (const m of copies) {
      expect(m).toMatchObject({ content: "Hi both", inReplyTo, to: [bobSite.url, carolSite.url] });
      expect(m.contentHtml).toContain("<b>both</b>");
    }

    const hidden = await runMain(
      ["send", "--from", aliceSite.url, "--to", bobSite.url, "--to", carolSite.url, "--hide-recipients", "--timeout", "20", "--json", "Just you"],
      as(alice),
    );
    expect(hidden.code).toBe(0);
    const hiddenCopies = await received((JSON.parse(hidden.stdout) as { message: string }).message);
    expect(hiddenCopies).toHaveLength(2);
    for (const m of hiddenCopies) expect(m).not.toHaveProperty("to");
  });
});
