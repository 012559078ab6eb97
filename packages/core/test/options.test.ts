/**
 * `resolvePmServerOptions` (STYLE.md practice 5): each bad option is refused at start-up
 * with `PmError("invalid_config")` and one sentence naming the field; every default comes
 * from `PM_SERVER_DEFAULTS`. One row per case.
 */
import { describe, expect, it } from "vitest";
import { BODY_LIMITS, PM_SERVER_DEFAULTS, PmError, createMemoryStore, createPmServer, resolvePmServerOptions } from "../src/index.js";

const store = createMemoryStore();
const base = { endpoint: "https://pm.example.net/", sites: ["https://example.net/"], store };
const SITE = "https://example.net/";

/** `field`: the name the sentence must carry, as written in it. */
const rows: { name: string; options: unknown; field: string; message: RegExp }[] = [
  { name: "not an object", options: "https://pm.example.net/", field: "createPmServer", message: /needs an options object/ },
  { name: "a typo", options: { ...base, ownerTokne: "x" }, field: "`ownerTokne`", message: /unknown option `ownerTokne`; did you mean `ownerToken`\?$/ },
  { name: "an unknown option", options: { ...base, colour: "red" }, field: "`colour`", message: /unknown option `colour` \(known options: `endpoint`/ },
  {
    name: "endpoint missing",
    options: { sites: base.sites, store },
    field: "`endpoint`",
    message: /is required: the URL of this endpoint as the world sees it/,
  },
  { name: "endpoint not a URL", options: { ...base, endpoint: "pm" }, field: "`endpoint`", message: /must be an absolute http\(s\) URL, got "pm"\.$/ },
  { name: "endpoint not http(s)", options: { ...base, endpoint: "ftp://pm.example.net/" }, field: "`endpoint`", message: /must be an absolute http\(s\) URL/ },
  {
    name: "endpoint http in production",
    options: { ...base, endpoint: "http://pm.example.net/" },
    field: "`endpoint`",
    message: /is refused: production servers accept only https URLs \(set `dev: true` for local testing\)/,
  },
  { name: "endpoint with a fragment", options: { ...base, endpoint: "https://pm.example.net/#x" }, field: "`endpoint`", message: /must not have a fragment/ },
  { name: "sites not an array", options: { ...base, sites: SITE }, field: "`sites`", message: /must be an array of site URLs/ },
  {
    name: "a site on loopback in production",
    options: { ...base, sites: ["https://127.0.0.1/"] },
    field: "`sites[0]`",
    message: /is refused: production servers accept only domain names/,
  },
  {
    name: "store missing",
    options: { endpoint: base.endpoint, sites: base.sites },
    field: "`store`",
    message: /must implement the Store interface \(insert, get, update, put, remove, find, count, close\)/,
  },
  { name: "store not a Store", options: { ...base, store: {} }, field: "`store`", message: /must implement the Store interface/ },
  { name: "dev not a boolean", options: { ...base, dev: "yes" }, field: "`dev`", message: /must be true or false, got "yes"/ },
  { name: "owner token empty", options: { ...base, ownerToken: " " }, field: "`ownerToken`", message: /must be a non-empty string/ },
  { name: "owner token not a string", options: { ...base, ownerToken: 1234567890123456 }, field: "`ownerToken`", message: /must be a non-empty string/ },
  { name: "http not a client", options: { ...base, http: {} }, field: "`http`", message: /must be an HttpClient/ },
  { name: "defaultFlow", options: { ...base, defaultFlow: "push" }, field: "`defaultFlow`", message: /must be "token" or "message", got "push"/ },
  { name: "policies not an object", options: { ...base, policies: [] }, field: "`policies`", message: /must be an object keyed by site URL/ },
  {
    name: "a policy's site not a URL",
    options: { ...base, policies: { nope: {} } },
    field: '`policies["nope"]`',
    message: /must be an absolute http\(s\) URL/,
  },
  {
    name: "a policy value",
    options: { ...base, policies: { [SITE]: { policy: "friends" } } },
    field: `\`policies["${SITE}"].policy\``,
    message: /must be "anyone", "contacts" or "nobody"/,
  },
  {
    name: "a policy's unknown key",
    options: { ...base, policies: { [SITE]: { contact: [] } } },
    field: `\`policies["${SITE}"].contact\``,
    message: /did you mean `policies\["https:\/\/example\.net\/"\]\.contacts`\?$/,
  },
  {
    name: "a contact not a URL",
    options: { ...base, policies: { [SITE]: { contacts: ["x"] } } },
    field: `\`policies["${SITE}"].contacts[0]\``,
    message: /must be an absolute http\(s\) URL/,
  },
  { name: "a block entry", options: { ...base, policies: { [SITE]: { blocked: ["host:"] } } }, field: `\`policies["${SITE}"].blocked[0]\``, message: /./ },
  { name: "retry not an object", options: { ...base, retry: 5 }, field: "`retry`", message: /must be an object such as \{"baseDelayMs": 5000\}/ },
  { name: "a retry typo", options: { ...base, retry: { baseDelay: 5 } }, field: "`retry.baseDelay`", message: /did you mean `retry\.baseDelayMs`\?$/ },
  { name: "a retry delay", options: { ...base, retry: { maxDelayMs: -1 } }, field: "`retry.maxDelayMs`", message: /must be a positive number, got -1/ },
  {
    name: "grant lifetime too short",
    options: { ...base, grantLifetimeSeconds: 59 },
    field: "`grantLifetimeSeconds`",
    message: /must be whole seconds from 60 to 31536000/,
  },
  { name: "grant lifetime not whole", options: { ...base, grantLifetimeSeconds: 60.5 }, field: "`grantLifetimeSeconds`", message: /must be whole seconds/ },
  {
    name: "a rate limit",
    options: { ...base, rateLimits: { perClientPerMinute: 0 } },
    field: "`rateLimits.perClientPerMinute`",
    message: /must be a positive number/,
  },
  { name: "maxBodyBytes", options: { ...base, maxBodyBytes: 1.5 }, field: "`maxBodyBytes`", message: /must be a positive whole number of bytes/ },
  { name: "trustProxy true", options: { ...base, trustProxy: true }, field: "`trustProxy`", message: /is true, which trusts every X-Forwarded-For entry/ },
  { name: "sanitizer", options: { ...base, sanitizer: {} }, field: "`sanitizer`", message: /must be an HtmlSanitizer/ },
  { name: "onEvent", options: { ...base, onEvent: "log" }, field: "`onEvent`", message: /must be a function/ },
  { name: "now", options: { ...base, now: 0 }, field: "`now`", message: /must be a function/ },
  { name: "logger", options: { ...base, logger: { info() {} } }, field: "`logger`", message: /must have info, warn and error methods/ },
];

describe("each bad option: invalid_config, one sentence naming the field", () => {
  it.each(rows)("$name", ({ options, field, message }) => {
    let thrown: unknown;
    try {
      resolvePmServerOptions(options);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(PmError);
    const error = thrown as PmError;
    expect(error.code).toBe("invalid_config");
    expect(error.message).toMatch(message);
    expect(error.message).toContain(field);
    // One sentence: one line, starting with the package's name, ending in a full stop or question mark.
    expect(error.message).toMatch(/^indiepm: [^\n]+[.?]$/);
    // createPmServer refuses it the same way, before making anything.
    expect(() => createPmServer(options as never)).toThrow(error.message);
  });
});

describe("defaults come from PM_SERVER_DEFAULTS", () => {
  it("fills in every default", () => {
    const resolved = resolvePmServerOptions(base);
    expect(resolved).toMatchObject({
      endpoint: "https://pm.example.net/",
      sites: ["https://example.net/"],
      store,
      dev: PM_SERVER_DEFAULTS.dev,
      ownerToken: undefined,
      http: undefined,
      sanitizer: undefined,
      defaultFlow: PM_SERVER_DEFAULTS.defaultFlow,
      policies: {},
      retry: PM_SERVER_DEFAULTS.retry,
      grantLifetimeSeconds: PM_SERVER_DEFAULTS.grantLifetimeSeconds,
      rateLimits: PM_SERVER_DEFAULTS.rateLimits,
      maxBodyBytes: BODY_LIMITS.federation,
      logger: PM_SERVER_DEFAULTS.logger,
      now: PM_SERVER_DEFAULTS.now,
    });
    expect(resolved.trustProxy.kind).toBe("off");
    expect(BODY_LIMITS.federation).toBe(256 * 1024); // PROTOCOL.md §2
  });

  it("keeps what is given, in canonical form", () => {
    const resolved = resolvePmServerOptions({
      ...base,
      endpoint: "https://PM.example.net",
      ownerToken: "owner-token-0123456789",
      retry: { baseDelayMs: 10 },
      policies: { "https://EXAMPLE.net": { policy: "contacts", contacts: ["https://Friend.example"], blocked: ["host:Spam.example"] } },
    });
    expect(resolved.endpoint).toBe("https://pm.example.net/");
    expect(resolved.retry).toEqual({ ...PM_SERVER_DEFAULTS.retry, baseDelayMs: 10 });
    expect(Object.keys(resolved.policies)).toEqual([SITE]);
    expect(resolved.policies[SITE]!.contacts).toEqual(["https://friend.example/"]);
  });

  it("dev allows http, IP addresses and loopback", () => {
    expect(resolvePmServerOptions({ ...base, dev: true, endpoint: "http://127.0.0.1:8080/", sites: [] }).endpoint).toBe("http://127.0.0.1:8080/");
  });
});

describe("callers name fields their own way and may open the store later", () => {
  it("label names the field in the caller's words (indiepm serve: flags, config keys)", () => {
    const label = (field: string) => (field.startsWith("sites") ? "--site" : `\`${field}\` in serve.json`);
    expect(() => resolvePmServerOptions({ ...base, sites: ["nope"] }, { label })).toThrow(/^indiepm: --site must be an absolute http\(s\) URL, got "nope"\.$/);
    expect(() => resolvePmServerOptions({ ...base, trustProxy: true }, { label })).toThrow(/^indiepm: `trustProxy` in serve\.json is true/);
  });

  it("storeOpensLater: no store needed, none in the result; one given is still checked", () => {
    const { store: _store, ...rest } = base;
    expect("store" in resolvePmServerOptions(rest, { storeOpensLater: true })).toBe(false);
    expect(() => resolvePmServerOptions({ ...rest, store: {} }, { storeOpensLater: true })).toThrow(/option `store` must implement/);
  });
});

describe("the owner token", () => {
  it("a short one is taken (CLI.md runs serve with whatever INDIEPM_TOKEN holds) and warned about once; a long one is not", async () => {
    const warnings: string[] = [];
    const logger = { info() {}, error() {}, warn: (message: string) => void warnings.push(message) };
    const short = createPmServer({ ...base, store: createMemoryStore(), ownerToken: "secret", logger });
    expect(warnings).toEqual([expect.stringMatching(/owner token is shorter than 16 characters/)]);
    const answer = await short.handle(new Request("http://pm.example.net/api/inbox", { headers: { authorization: "Bearer secret" } }));
    expect(answer.status).toBe(200);
    await short.close();
    warnings.length = 0;
    const long = createPmServer({ ...base, store: createMemoryStore(), ownerToken: "x".repeat(43), logger });
    expect(warnings).toEqual([]);
    await long.close();
  });
});
