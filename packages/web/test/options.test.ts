/**
 * `createWebInbox`'s options are checked once, at start-up (STYLE.md practice 5): each
 * wrong option is a `WebInboxError("invalid_config")` (the web package's own error type,
 * never core's `PmError`) whose sentence names the option.
 */
import { describe, expect, it } from "vitest";
import { createMemoryStore, createPmServer, PmError } from "@indiepm/core";
import { createWebInbox, WebInboxError, type WebInboxOptions } from "../src/index.js";
import { resolveInboxOptions, WEB_INBOX_DEFAULTS } from "../src/options.js";

const quiet = { info() {}, warn() {}, error() {} };
const devPm = createPmServer({ endpoint: "http://127.0.0.1:9/", sites: ["http://127.0.0.1:9/site/"], store: createMemoryStore(), dev: true, logger: quiet });
const livePm = createPmServer({ endpoint: "https://pm.example.net/", sites: [], store: createMemoryStore(), logger: quiet });

describe("a wrong option fails at start-up with invalid_config", () => {
  it.each<[string, unknown, RegExp]>([
    ["no options", undefined, /needs an options object/],
    ["a server that is not a PmServer", { server: {}, url: "http://127.0.0.1:9/" }, /option `server`/],
    ["a url that is not a URL", { server: devPm, url: "inbox" }, /option `url` must be the absolute URL/],
    ["a url that is not http(s)", { server: devPm, url: "ftp://127.0.0.1/" }, /option `url` must be http\(s\)/],
    ["an http url outside development mode", { server: livePm, url: "http://pm.example.net/" }, /must be https outside development mode/],
    ["a url with a query", { server: devPm, url: "http://127.0.0.1:9/?a=1" }, /no query or fragment/],
    [
      "a session shorter than a minute",
      { server: devPm, url: "http://127.0.0.1:9/", sessionLifetimeSeconds: 59 },
      /`sessionLifetimeSeconds` must be 60 or more/,
    ],
    ["a poll under a second", { server: devPm, url: "http://127.0.0.1:9/", pollSeconds: 0 }, /`pollSeconds` must be 1 or more/],
    ["a fractional sign-in limit", { server: devPm, url: "http://127.0.0.1:9/", signInsPerMinute: 1.5 }, /`signInsPerMinute` must be a whole number/],
    [
      "a misspelt option",
      { server: devPm, url: "http://127.0.0.1:9/", pollSecond: 2 },
      /^createWebInbox: unknown option `pollSecond`; did you mean `pollSeconds`\?$/,
    ],
    [
      "an option nobody defined",
      { server: devPm, url: "http://127.0.0.1:9/", theme: "dark" },
      /^createWebInbox: unknown option `theme` \(known options: `server`, `url`, `http`, `sessionLifetimeSeconds`, `pollSeconds`, `signInsPerMinute`, `logger`\)\.$/,
    ],
  ])("%s", (_case, options, message) => {
    let thrown: unknown;
    try {
      createWebInbox(options as WebInboxOptions);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(WebInboxError);
    expect(thrown).not.toBeInstanceOf(PmError);
    expect(thrown).toMatchObject({ code: "invalid_config", message: expect.stringMatching(message) });
  });
});

describe("resolveInboxOptions", () => {
  it("fills in every default from one place", async () => {
    const resolved = resolveInboxOptions({ server: devPm, url: "http://127.0.0.1:9/inbox" });
    expect(resolved).toMatchObject({
      base: "/inbox/",
      origin: "http://127.0.0.1:9",
      secure: false,
      clientId: "http://127.0.0.1:9/inbox/",
      redirectUri: "http://127.0.0.1:9/inbox/auth/callback",
      sessionLifetimeSeconds: WEB_INBOX_DEFAULTS.sessionLifetimeSeconds,
      pollSeconds: WEB_INBOX_DEFAULTS.pollSeconds,
      signInsPerMinute: WEB_INBOX_DEFAULTS.signInsPerMinute,
    });
    expect(WEB_INBOX_DEFAULTS).toEqual({ sessionLifetimeSeconds: 14 * 24 * 60 * 60, pollSeconds: 10, signInsPerMinute: 10 });
    await resolved.ownHttp?.close();
  });

  it("uses the outbound client it is given and makes none of its own", () => {
    const http = { get: async () => new Response(), postForm: async () => new Response() } as unknown as NonNullable<WebInboxOptions["http"]>;
    const resolved = resolveInboxOptions({ server: devPm, url: "http://127.0.0.1:9/", http });
    expect(resolved.http).toBe(http);
    expect(resolved.ownHttp).toBeUndefined();
  });
});
