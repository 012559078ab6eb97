/**
 * PROTOCOL.md §2 "Requests and answers" over the wire: every error of the table, from
 * the four real loopback hosts, and the order in which the checks run ("the first that
 * fails answers"). Rows are named `STATUS-CODE-what`, after the answer they expect.
 * Run on each store (harness/stores.ts).
 */
import type { CollectionName, PmServerOptions } from "@indiepm/core";
import { describe, expect, it } from "vitest";
import { startHosts as start, scriptedEndpoint as scripted } from "../harness/scoped.js";
import { pmHostAt, settled, storeCounts, waitFor, type FourHosts, type HostOverrides } from "../harness/hosts.js";
import { faultyStore, movableClock, recordingLogger } from "../harness/rogue.js";
import { storesForTests, useStore } from "../harness/stores.js";

type Params = Record<string, string | string[]>;

/** One request as the wire sees it: a form, or a raw body with its content type. */
interface Wire {
  at: "alice" | "bob";
  form?: Params;
  raw?: { body: string; contentType?: string };
  headers?: Record<string, string>;
}

interface Row {
  name: string;
  hosts?: { alice?: HostOverrides; bob?: HostOverrides };
  request: (h: FourHosts) => Wire;
  status: number;
  error: string;
  headers?: Record<string, RegExp>;
}

const KiB = 1024;
/** `storeCounts` of a pm server that stored nothing. */
const NOTHING_STORED = { handshakes: 0, secrets: 0, deliveries: 0, inbox: 0, outbox: 0, grants: 0, webhooks: 0 };
const PUBLISHED = "2024-05-01T10:00:00Z";
/** A token or code of the right shape that nobody issued. */
const UNKNOWN_SECRET = "A".repeat(43);

type Answer = { status: number; body: any; headers: Headers };

/**
 * How the test's own requests reach a pm server, as unjs/h3 runs each HTTP test: over a
 * real loopback server (node:http and `createNodeHandler`), and in-process through
 * `PmServer.handle(new Request(…))`. Same requests, same expectations.
 */
interface Transport {
  name: "loopback" | "in-process";
  post(url: string, body: string | URLSearchParams, headers: Record<string, string>): Promise<Answer>;
}

async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: response.status, body, headers: response.headers };
}

const transports: Transport[] = [
  { name: "loopback", post: async (url, body, headers) => answerOf(await fetch(url, { method: "POST", body, headers })) },
  {
    name: "in-process",
    async post(url, body, headers) {
      const pm = pmHostAt(url);
      if (!pm) throw new Error(`No pm host at ${url}`);
      return answerOf(await pm.pm.handle(new Request(url, { method: "POST", body, headers }), { clientAddress: "127.0.0.1" }));
    },
  },
];

const formOf = (params: Params): URLSearchParams => {
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) for (const x of Array.isArray(v) ? v : [v]) form.append(k, x);
  return form;
};

/** A row's request, by `transport`. */
function send(transport: Transport, h: FourHosts, wire: Wire): Promise<Answer> {
  const url = wire.at === "alice" ? h.alice.pm.url : h.bob.pm.url;
  if (wire.raw) return transport.post(url, wire.raw.body, { ...(wire.raw.contentType ? { "content-type": wire.raw.contentType } : {}), ...wire.headers });
  return transport.post(url, formOf(wire.form!), wire.headers ?? {});
}

/** §2: an error is the status and exactly `{"error", "error_description"}`, as JSON. */
function expectError(answer: { status: number; body: unknown; headers: Headers }, status: number, error: string) {
  expect({ status: answer.status, body: answer.body }).toEqual({ status, body: { error, error_description: expect.stringMatching(/\S/) } });
  expect(answer.headers.get("content-type")).toMatch(/^application\/json/);
}

// Requests of each action, alice → bob, with every parameter right; rows spoil one thing.
const notify = (h: FourHosts, extra: Params = {}): Params => ({
  action: "notify",
  sender: h.alice.site.url,
  recipient: h.bob.site.url,
  message: `${h.alice.pm.url}messages/1`,
  ...extra,
});
const authorize = (h: FourHosts, extra: Params = {}): Params => ({
  action: "authorize",
  sender: h.alice.site.url,
  recipient: h.bob.site.url,
  code: UNKNOWN_SECRET,
  ...extra,
});
const verify = (h: FourHosts, extra: Params = {}): Params => ({
  action: "verify",
  sender: h.alice.site.url,
  recipient: h.bob.site.url,
  message: `${h.alice.pm.url}messages/1`,
  ...extra,
});
const request = (h: FourHosts, extra: Params = {}): Params => ({
  action: "request",
  sender: h.alice.site.url,
  recipient: h.bob.site.url,
  message: `${h.alice.pm.url}messages/1`,
  endpoint: h.bob.pm.url,
  token: UNKNOWN_SECRET,
  ...extra,
});
const grant = (h: FourHosts, extra: Params = {}): Params => ({
  action: "grant",
  sender: h.alice.site.url,
  recipient: h.bob.site.url,
  code: UNKNOWN_SECRET,
  endpoint: h.bob.pm.url,
  token: UNKNOWN_SECRET,
  expires_in: "3600",
  ...extra,
});
const deliver = (h: FourHosts, extra: Params = {}): Params => ({
  action: "deliver",
  sender: h.alice.site.url,
  recipient: h.bob.site.url,
  message: `${h.alice.pm.url}messages/1`,
  published: PUBLISHED,
  content: "Hello",
  ...extra,
});
/** `url` with its path padded to exactly `length` characters (still canonical). */
const ofLength = (url: string, length: number): string => url + "a".repeat(length - url.length);
const without = (params: Params, ...names: string[]): Params => Object.fromEntries(Object.entries(params).filter(([k]) => !names.includes(k)));
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const FORM = "application/x-www-form-urlencoded";
/** A notify for a recipient bob's pm does not hold, padded to exactly `bytes` bytes. */
function formOfSize(h: FourHosts, bytes: number): string {
  const head = `${new URLSearchParams(notify(h, { recipient: `${h.bob.site.url}nobody/` }) as Record<string, string>)}&padding=`;
  return head + "x".repeat(bytes - head.length);
}
const bobPolicy =
  (policy: NonNullable<PmServerOptions["policies"]>[string], alice = false): HostOverrides =>
  (u) => ({
    policies: { [u.bobSite]: alice ? { ...policy, blocked: [u.aliceSite] } : policy },
  });

/**
 * Requests refused at once: each one is refused before the server fetches anything or
 * starts any work, so no site is fetched and no protocol step is made.
 */
const refusals: Row[] = [
  // 400 invalid_request: not a form body
  {
    name: "400-invalid_request-not-a-form-json",
    request: (h) => ({ at: "bob", raw: { body: JSON.stringify(notify(h)), contentType: "application/json" } }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-not-a-form-text-plain",
    request: (h) => ({ at: "bob", raw: { body: new URLSearchParams(notify(h) as Record<string, string>).toString(), contentType: "text/plain" } }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-not-a-form-no-content-type",
    request: () => ({ at: "bob", raw: { body: "action=notify" } }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-bad-percent-encoding",
    request: () => ({ at: "bob", raw: { body: "action=notify&sender=%ZZ", contentType: "application/x-www-form-urlencoded" } }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-not-utf8",
    request: () => ({ at: "bob", raw: { body: "action=notify&sender=%FF%FE", contentType: "application/x-www-form-urlencoded" } }),
    status: 400,
    error: "invalid_request",
  },
  // 400 invalid_request: the action
  { name: "400-invalid_request-no-action", request: (h) => ({ at: "bob", form: without(notify(h), "action") }), status: 400, error: "invalid_request" },
  { name: "400-invalid_request-empty-action", request: (h) => ({ at: "bob", form: notify(h, { action: "" }) }), status: 400, error: "invalid_request" },
  {
    name: "400-invalid_request-unknown-action",
    request: (h) => ({ at: "bob", form: notify(h, { action: "subscribe" }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-action-is-case-sensitive",
    request: (h) => ({ at: "bob", form: notify(h, { action: "NOTIFY" }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-repeated-action",
    request: (h) => ({ at: "bob", form: notify(h, { action: ["notify", "notify"] }) }),
    status: 400,
    error: "invalid_request",
  },
  // 400 invalid_request: a parameter missing (empty counts as missing), one per action
  {
    name: "400-invalid_request-notify-no-message",
    request: (h) => ({ at: "bob", form: without(notify(h), "message") }),
    status: 400,
    error: "invalid_request",
  },
  { name: "400-invalid_request-notify-empty-sender", request: (h) => ({ at: "bob", form: notify(h, { sender: "" }) }), status: 400, error: "invalid_request" },
  {
    name: "400-invalid_request-authorize-no-code",
    request: (h) => ({ at: "bob", form: without(authorize(h), "code") }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-verify-no-recipient",
    request: (h) => ({ at: "alice", form: without(verify(h), "recipient") }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-request-no-token",
    request: (h) => ({ at: "alice", form: without(request(h), "token") }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-request-no-endpoint",
    request: (h) => ({ at: "alice", form: without(request(h), "endpoint") }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-grant-no-expires_in",
    request: (h) => ({ at: "alice", form: without(grant(h), "expires_in") }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-deliver-no-content",
    request: (h) => ({ at: "bob", form: without(deliver(h), "content"), headers: bearer(UNKNOWN_SECRET) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-deliver-empty-published",
    request: (h) => ({ at: "bob", form: deliver(h, { published: "" }), headers: bearer(UNKNOWN_SECRET) }),
    status: 400,
    error: "invalid_request",
  },
  // 400 invalid_request: a known parameter other than `to` repeated
  {
    name: "400-invalid_request-repeated-recipient",
    request: (h) => ({ at: "bob", form: notify(h, { recipient: [h.bob.site.url, h.bob.site.url] }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-repeated-message",
    request: (h) => ({ at: "alice", form: verify(h, { message: [`${h.alice.pm.url}m/1`, `${h.alice.pm.url}m/2`] }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-repeated-token",
    request: (h) => ({ at: "alice", form: request(h, { token: [UNKNOWN_SECRET, UNKNOWN_SECRET] }) }),
    status: 400,
    error: "invalid_request",
  },
  // 400 invalid_request: malformed site and endpoint URLs
  {
    name: "400-invalid_request-sender-not-absolute",
    request: (h) => ({ at: "bob", form: notify(h, { sender: "alice.example.org" }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-sender-not-http",
    request: (h) => ({ at: "bob", form: notify(h, { sender: "ftp://alice.example.org/" }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-sender-javascript",
    request: (h) => ({ at: "bob", form: notify(h, { sender: "javascript:alert(1)" }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-sender-with-fragment",
    request: (h) => ({ at: "bob", form: notify(h, { sender: `${h.alice.site.url}#me` }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-sender-with-password",
    request: (h) => ({ at: "bob", form: notify(h, { sender: h.alice.site.url.replace("//", "//user:pw@") }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-recipient-not-a-url",
    request: (h) => ({ at: "bob", form: notify(h, { recipient: "bob" }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-endpoint-not-a-url",
    request: (h) => ({ at: "alice", form: request(h, { endpoint: "pm.bob.example.net" }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-to-not-a-url",
    request: (h) => ({ at: "bob", form: deliver(h, { to: [h.bob.site.url, "carol"] }), headers: bearer(UNKNOWN_SECRET) }),
    status: 400,
    error: "invalid_request",
  },
  // 400 invalid_request: §5, `to` lists `recipient` among the recipients shown
  {
    name: "400-invalid_request-deliver-to-without-recipient",
    request: (h) => ({ at: "bob", form: deliver(h, { to: [h.alice.site.url, `${h.bob.site.url}carol/`] }), headers: bearer(UNKNOWN_SECRET) }),
    status: 400,
    error: "invalid_request",
  },
  // 400 invalid_request: §2 Formats, site and endpoint URLs of 2,049 characters, in each URL parameter
  {
    name: "400-invalid_request-notify-sender-of-2049",
    request: (h) => ({ at: "bob", form: notify(h, { sender: ofLength(h.alice.site.url, 2049) }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-authorize-sender-of-2049",
    request: (h) => ({ at: "bob", form: authorize(h, { sender: ofLength(h.alice.site.url, 2049) }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-notify-recipient-of-2049",
    request: (h) => ({ at: "bob", form: notify(h, { recipient: ofLength(h.bob.site.url, 2049) }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-notify-vouch-of-2049",
    request: (h) => ({ at: "bob", form: notify(h, { vouch: ofLength(h.alice.site.url, 2049) }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-authorize-vouch-of-2049",
    request: (h) => ({ at: "bob", form: authorize(h, { vouch: ofLength(h.alice.site.url, 2049) }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-verify-sender-of-2049",
    request: (h) => ({ at: "alice", form: verify(h, { sender: ofLength(h.alice.site.url, 2049) }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-request-endpoint-of-2049",
    request: (h) => ({ at: "alice", form: request(h, { endpoint: ofLength(h.bob.pm.url, 2049) }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-grant-endpoint-of-2049",
    request: (h) => ({ at: "alice", form: grant(h, { endpoint: ofLength(h.bob.pm.url, 2049) }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-deliver-recipient-of-2049",
    request: (h) => ({ at: "bob", form: deliver(h, { recipient: ofLength(h.bob.site.url, 2049) }), headers: bearer(UNKNOWN_SECRET) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-deliver-to-of-2049",
    request: (h) => ({ at: "bob", form: deliver(h, { to: [h.bob.site.url, ofLength(h.alice.site.url, 2049)] }), headers: bearer(UNKNOWN_SECRET) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-sender-of-240KB",
    request: (h) => ({ at: "bob", form: notify(h, { sender: ofLength(h.alice.site.url, 240 * KiB) }) }),
    status: 400,
    error: "invalid_request",
  },
  // …while 2,048 characters are fine: the request goes on to the next check
  {
    name: "404-unknown_recipient-recipient-of-2048",
    request: (h) => ({ at: "bob", form: notify(h, { recipient: ofLength(h.bob.site.url, 2048) }) }),
    status: 404,
    error: "unknown_recipient",
  },
  {
    name: "401-invalid_token-to-of-2048",
    request: (h) => ({ at: "bob", form: deliver(h, { to: [h.bob.site.url, ofLength(h.alice.site.url, 2048)] }), headers: bearer(UNKNOWN_SECRET) }),
    status: 401,
    error: "invalid_token",
  },
  // 400 invalid_request: bad message IDs (§2 Formats)
  {
    name: "400-invalid_request-message-id-no-scheme",
    request: (h) => ({ at: "bob", form: notify(h, { message: "messages/1" }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-message-id-with-fragment",
    request: (h) => ({ at: "bob", form: notify(h, { message: `${h.alice.pm.url}messages/1#x` }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-message-id-not-ascii",
    request: (h) => ({ at: "bob", form: notify(h, { message: "urn:uuid:é" }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-message-id-with-space",
    request: (h) => ({ at: "alice", form: verify(h, { message: "urn:x:a b" }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-message-id-over-512",
    request: (h) => ({ at: "bob", form: notify(h, { message: `urn:x:${"a".repeat(507)}` }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-in-reply-to-not-a-uri",
    request: (h) => ({ at: "bob", form: deliver(h, { "in-reply-to": "previous" }), headers: bearer(UNKNOWN_SECRET) }),
    status: 400,
    error: "invalid_request",
  },
  // 400 invalid_request: other formats
  {
    name: "400-invalid_request-published-without-T",
    request: (h) => ({ at: "bob", form: deliver(h, { published: "2024-05-01 10:00:00Z" }), headers: bearer(UNKNOWN_SECRET) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-published-without-offset",
    request: (h) => ({ at: "bob", form: deliver(h, { published: "2024-05-01T10:00:00" }), headers: bearer(UNKNOWN_SECRET) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-published-not-a-date",
    request: (h) => ({ at: "bob", form: deliver(h, { published: "2024-02-30T10:00:00Z" }), headers: bearer(UNKNOWN_SECRET) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-expires_in-under-60",
    request: (h) => ({ at: "alice", form: grant(h, { expires_in: "59" }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-expires_in-over-a-year",
    request: (h) => ({ at: "alice", form: grant(h, { expires_in: "31536001" }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-expires_in-not-digits",
    request: (h) => ({ at: "alice", form: grant(h, { expires_in: "+600" }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-expires_in-decimal",
    request: (h) => ({ at: "alice", form: grant(h, { expires_in: "600.0" }) }),
    status: 400,
    error: "invalid_request",
  },
  // 400 invalid_request: verify names exactly one of message and code (§4 step 3)
  {
    name: "400-invalid_request-verify-message-and-code",
    request: (h) => ({ at: "alice", form: verify(h, { code: UNKNOWN_SECRET }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-verify-neither-message-nor-code",
    request: (h) => ({ at: "alice", form: without(verify(h), "message") }),
    status: 400,
    error: "invalid_request",
  },

  // Ignored, not refused: unknown parameters and those of other actions, repeated or not;
  // `to`, repeated and with duplicates. The request goes on to the next check.
  {
    name: "404-unknown_recipient-unknown-parameters-may-repeat",
    request: (h) => ({ at: "bob", form: notify(h, { recipient: h.alice.site.url, x: ["1", "2"], code: ["a", "b"] }) }),
    status: 404,
    error: "unknown_recipient",
  },
  {
    name: "401-invalid_token-to-may-repeat",
    request: (h) => ({ at: "bob", form: deliver(h, { to: [h.bob.site.url, h.alice.site.url, h.bob.site.url] }), headers: bearer(UNKNOWN_SECRET) }),
    status: 401,
    error: "invalid_token",
  },
  {
    name: "401-invalid_token-empty-optional-parameters",
    request: (h) => ({ at: "bob", form: deliver(h, { name: "", "content-html": "", "in-reply-to": "" }), headers: bearer(UNKNOWN_SECRET) }),
    status: 401,
    error: "invalid_token",
  },

  // 400 invalid_code: at alice's pm, a code it never issued
  {
    name: "400-invalid_code-verify-unknown-code",
    request: (h) => ({ at: "alice", form: without(verify(h, { code: UNKNOWN_SECRET }), "message") }),
    status: 400,
    error: "invalid_code",
  },
  { name: "400-invalid_code-grant-unknown-code", request: (h) => ({ at: "alice", form: grant(h) }), status: 400, error: "invalid_code" },
  {
    name: "400-invalid_code-grant-for-a-sender-not-held",
    request: (h) => ({ at: "alice", form: grant(h, { sender: h.bob.site.url, recipient: h.alice.site.url }) }),
    status: 400,
    error: "invalid_code",
  },

  // 401 invalid_token, with WWW-Authenticate
  ...(
    [
      ["no-authorization", {}],
      ["unknown-bearer", bearer(UNKNOWN_SECRET)],
      ["basic-scheme", { authorization: `Basic ${Buffer.from("alice:pw").toString("base64")}` }],
      ["empty-bearer", { authorization: "Bearer " }],
    ] as const
  ).map(
    ([what, headers]): Row => ({
      name: `401-invalid_token-deliver-${what}`,
      request: (h) => ({ at: "bob", form: deliver(h), headers }),
      status: 401,
      error: "invalid_token",
      headers: { "www-authenticate": /^Bearer error="invalid_token"/ },
    }),
  ),

  // 403 forbidden: §7, before the receiver fetches anything
  {
    name: "403-forbidden-notify-policy-nobody",
    hosts: { bob: bobPolicy({ policy: "nobody" }) },
    request: (h) => ({ at: "bob", form: notify(h) }),
    status: 403,
    error: "forbidden",
  },
  {
    name: "403-forbidden-authorize-policy-nobody",
    hosts: { bob: bobPolicy({ policy: "nobody" }) },
    request: (h) => ({ at: "bob", form: authorize(h) }),
    status: 403,
    error: "forbidden",
  },
  {
    name: "403-forbidden-notify-blocked",
    hosts: { bob: bobPolicy({ policy: "anyone" }, true) },
    request: (h) => ({ at: "bob", form: notify(h) }),
    status: 403,
    error: "forbidden",
  },
  {
    name: "403-forbidden-authorize-blocked-wins-over-contacts",
    hosts: { bob: (u) => ({ policies: { [u.bobSite]: { policy: "contacts", contacts: [u.aliceSite], blocked: [u.aliceSite] } } }) },
    request: (h) => ({ at: "bob", form: authorize(h) }),
    status: 403,
    error: "forbidden",
  },
  {
    name: "403-forbidden-notify-contacts-not-a-contact",
    hosts: { bob: bobPolicy({ policy: "contacts" }) },
    request: (h) => ({ at: "bob", form: notify(h) }),
    status: 403,
    error: "forbidden",
  },

  // 404 unknown_recipient: a site bob's pm holds no inbox for
  {
    name: "404-unknown_recipient-notify-another-site",
    request: (h) => ({ at: "bob", form: notify(h, { recipient: h.alice.site.url }) }),
    status: 404,
    error: "unknown_recipient",
  },
  {
    name: "404-unknown_recipient-notify-another-path",
    request: (h) => ({ at: "bob", form: notify(h, { recipient: `${h.bob.site.url}carol/` }) }),
    status: 404,
    error: "unknown_recipient",
  },
  {
    name: "404-unknown_recipient-notify-query-matters",
    request: (h) => ({ at: "bob", form: notify(h, { recipient: `${h.bob.site.url}?x=1` }) }),
    status: 404,
    error: "unknown_recipient",
  },
  {
    name: "404-unknown_recipient-authorize-another-site",
    request: (h) => ({ at: "bob", form: authorize(h, { recipient: h.alice.site.url }) }),
    status: 404,
    error: "unknown_recipient",
  },

  // 404 unknown_message: at alice's pm, a message it never sent
  { name: "404-unknown_message-verify-unknown-message", request: (h) => ({ at: "alice", form: verify(h) }), status: 404, error: "unknown_message" },
  { name: "404-unknown_message-request-unknown-message", request: (h) => ({ at: "alice", form: request(h) }), status: 404, error: "unknown_message" },
  {
    name: "404-unknown_message-verify-for-a-sender-not-held",
    request: (h) => ({ at: "alice", form: verify(h, { sender: h.bob.site.url, recipient: h.alice.site.url }) }),
    status: 404,
    error: "unknown_message",
  },

  // 413 too_large: the body over 256 KiB, `content` over 64 KiB of UTF-8
  {
    name: "413-too_large-body-over-256KiB",
    request: (h) => ({ at: "bob", form: notify(h, { padding: "x".repeat(256 * KiB) }) }),
    status: 413,
    error: "too_large",
  },
  {
    name: "413-too_large-deliver-body-over-256KiB",
    request: (h) => ({ at: "bob", form: deliver(h, { "content-html": "x".repeat(256 * KiB) }), headers: bearer(UNKNOWN_SECRET) }),
    status: 413,
    error: "too_large",
  },
  {
    name: "413-too_large-content-over-64KiB",
    request: (h) => ({ at: "bob", form: deliver(h, { content: "x".repeat(64 * KiB + 1) }), headers: bearer(UNKNOWN_SECRET) }),
    status: 413,
    error: "too_large",
  },
  {
    name: "413-too_large-content-over-64KiB-of-utf8",
    request: (h) => ({ at: "bob", form: deliver(h, { content: "é".repeat(32 * KiB + 1) }), headers: bearer(UNKNOWN_SECRET) }),
    status: 413,
    error: "too_large",
  },
  {
    name: "401-invalid_token-content-of-exactly-64KiB",
    request: (h) => ({ at: "bob", form: deliver(h, { content: "é".repeat(32 * KiB) }), headers: bearer(UNKNOWN_SECRET) }),
    status: 401,
    error: "invalid_token",
  },

  {
    name: "404-unknown_recipient-body-of-exactly-256KiB-is-not-too-large",
    request: (h) => ({ at: "bob", raw: { body: formOfSize(h, 256 * KiB), contentType: FORM } }),
    status: 404,
    error: "unknown_recipient",
  },
  {
    name: "413-too_large-body-of-256KiB-and-one-byte",
    request: (h) => ({ at: "bob", raw: { body: formOfSize(h, 256 * KiB + 1), contentType: FORM } }),
    status: 413,
    error: "too_large",
  },

  // §2 check order: the first check that fails answers
  {
    name: "413-too_large-body-before-not-a-form",
    request: () => ({ at: "bob", raw: { body: JSON.stringify({ padding: "x".repeat(256 * KiB) }), contentType: "application/json" } }),
    status: 413,
    error: "too_large",
  },
  {
    name: "413-too_large-content-before-missing-parameters",
    request: () => ({ at: "bob", form: { action: "deliver", content: "x".repeat(64 * KiB + 1) } }),
    status: 413,
    error: "too_large",
  },
  {
    name: "413-too_large-content-before-bad-sender",
    request: (h) => ({ at: "bob", form: deliver(h, { sender: "nope", content: "x".repeat(64 * KiB + 1) }) }),
    status: 413,
    error: "too_large",
  },
  {
    name: "400-invalid_request-parameters-before-invalid_token",
    request: (h) => ({ at: "bob", form: deliver(h, { published: "yesterday" }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "401-invalid_token-before-unknown_recipient",
    request: (h) => ({ at: "bob", form: deliver(h, { recipient: h.alice.site.url }), headers: bearer(UNKNOWN_SECRET) }),
    status: 401,
    error: "invalid_token",
  },
  {
    name: "401-invalid_token-before-forbidden",
    hosts: { bob: bobPolicy({ policy: "nobody" }, true) },
    request: (h) => ({ at: "bob", form: deliver(h) }),
    status: 401,
    error: "invalid_token",
  },
  {
    name: "400-invalid_request-before-unknown_recipient",
    request: (h) => ({ at: "bob", form: notify(h, { recipient: h.alice.site.url, message: "no scheme" }) }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "400-invalid_request-before-forbidden",
    hosts: { bob: bobPolicy({ policy: "nobody" }) },
    request: (h) => ({ at: "bob", form: without(notify(h), "message") }),
    status: 400,
    error: "invalid_request",
  },
  {
    name: "404-unknown_recipient-before-forbidden",
    hosts: { bob: bobPolicy({ policy: "nobody" }) },
    request: (h) => ({ at: "bob", form: notify(h, { recipient: `${h.bob.site.url}carol/` }) }),
    status: 404,
    error: "unknown_recipient",
  },
];

for (const { store, skipReason } of await storesForTests()) {
  describe.skipIf(skipReason)(`on ${store}`, () => {
    useStore(store);

    describe.each(transports)("§2 errors: requests refused before any work ($name)", (transport) => {
      it.each(refusals)("$name", async (row) => {
        const h = await start(row.hosts ?? {});
        const wire = row.request(h);
        const answer = await send(transport, h, wire);
        expectError(answer, row.status, row.error);
        for (const [name, pattern] of Object.entries(row.headers ?? {})) expect(answer.headers.get(name)).toMatch(pattern);
        // Refused at once: once every engine is idle and nothing is in flight, nothing was
        // fetched (§7: "before the receiver fetches anything"), no step made, nothing stored;
        // the one request is all any host was sent.
        await h.idle();
        expect({ aliceSite: h.alice.site.requests, bobSite: h.bob.site.requests, steps: h.events }).toEqual({ aliceSite: 0, bobSite: 0, steps: [] });
        expect({ alice: await storeCounts(h.alice.pm.store), bob: await storeCounts(h.bob.pm.store) }).toEqual({ alice: NOTHING_STORED, bob: NOTHING_STORED });
        const sentOver = transport.name === "loopback" ? 1 : 0;
        expect({ alicePm: h.alice.pm.handled, bobPm: h.bob.pm.handled, aliceSite: h.alice.site.handled, bobSite: h.bob.site.handled }).toEqual({
          alicePm: wire.at === "alice" ? sentOver : 0,
          bobPm: wire.at === "bob" ? sentOver : 0,
          aliceSite: 0,
          bobSite: 0,
        });
      });
    });

    // The rest of the table, each test's own requests by both transports.
    describe.each(transports)("§2 over $name", (transport) => {
      const postForm = (url: string, params: Params, headers: Record<string, string> = {}) => transport.post(url, formOf(params), headers);

      describe("§2 403 forbidden from the sender's side", () => {
        it("403-forbidden-final: alice's delivery fails with forbidden and bob's pm fetched nothing", async () => {
          const h = await start({ bob: bobPolicy({ policy: "nobody" }) });
          for (const flow of ["message", "token"] as const) {
            const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: `by ${flow}`, flow });
            const done = await settled(h.alice.pm.pm, sent.message);
            expect(done.deliveries).toEqual([expect.objectContaining({ status: "failed", error: "forbidden" })]);
          }
          // alice's pm fetched bob's site (step 1); bob's pm never fetched alice's.
          expect(h.alice.site.requests).toBe(0);
          expect(h.bob.site.requests).toBeGreaterThan(0);
          expect(h.events.filter((e) => e.from === h.bob.pm.url)).toEqual([]);
          expect(await h.bob.pm.pm.inbox()).toEqual([]);
        });
      });

      describe("§2 409 endpoint_mismatch", () => {
        it("409-endpoint_mismatch-request-names-an-endpoint-the-site-does-not: nothing changes, the right request delivers (§3 step 5, amended)", async () => {
          const h = await start();
          const bobStandIn = await scripted();
          h.bob.site.endpoint = bobStandIn.url;
          const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "x", flow: "message" });
          await bobStandIn.next("notify");
          const elsewhere = `${bobStandIn.url}elsewhere`;
          const answer = await postForm(h.alice.pm.url, request(h, { message: sent.message, endpoint: elsewhere }));
          expectError(answer, 409, "endpoint_mismatch");
          // bob's site still names the endpoint alice notified, so the delivery keeps waiting for it.
          expect((await h.alice.pm.pm.getMessage(sent.message)).sent!.deliveries[0]).toMatchObject({ status: "pending" });
          expect((await postForm(h.alice.pm.url, request(h, { message: sent.message, endpoint: bobStandIn.url }))).status).toBe(202);
          expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]).toMatchObject({ status: "delivered" });
          expect(bobStandIn.of("deliver").map((r) => r.params.get("message"))).toEqual([sent.message]);
        });

        it("409-endpoint_mismatch-request-after-the-site-changed-its-endpoint: the pending delivery fails, final", async () => {
          const h = await start();
          const bobStandIn = await scripted();
          h.bob.site.endpoint = bobStandIn.url;
          const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "x", flow: "message" });
          await bobStandIn.next("notify");
          h.bob.site.endpoint = `${bobStandIn.url}moved`;
          expectError(await postForm(h.alice.pm.url, request(h, { message: sent.message, endpoint: bobStandIn.url })), 409, "endpoint_mismatch");
          expect((await settled(h.alice.pm.pm, sent.message, 1_000)).deliveries[0]).toMatchObject({ status: "failed", error: "endpoint_mismatch" });
          // Final: a later request finds nothing pending, and nothing was ever delivered.
          expectError(await postForm(h.alice.pm.url, request(h, { message: sent.message, endpoint: `${bobStandIn.url}moved` })), 404, "unknown_message");
          expect(bobStandIn.of("deliver")).toEqual([]);
        });

        it("409-endpoint_mismatch-grant-after-the-site-changed-its-endpoint: the code is withdrawn, waiting deliveries fail", async () => {
          const h = await start();
          const bobStandIn = await scripted();
          h.bob.site.endpoint = bobStandIn.url;
          const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "x", flow: "token" });
          const code = (await bobStandIn.next("authorize")).params.get("code")!;
          // Between authorize and grant, bob's site starts naming another endpoint.
          h.bob.site.endpoint = h.bob.pm.url;
          const grantIt = () => postForm(h.alice.pm.url, grant(h, { code, endpoint: bobStandIn.url, token: "T".repeat(43) }));
          expectError(await grantIt(), 409, "endpoint_mismatch");
          const done = await settled(h.alice.pm.pm, sent.message, 1_000);
          expect(done.deliveries[0]).toMatchObject({ status: "failed", error: "endpoint_mismatch" });
          h.bob.site.endpoint = bobStandIn.url;
          expectError(await grantIt(), 400, "invalid_code");
          expect(bobStandIn.of("deliver")).toEqual([]);
        });
      });

      describe("§2 429 rate_limited (§6 Abuse)", () => {
        it("429-rate_limited-per-sender: Retry-After in seconds; other senders, bad requests and deliver are not limited", async () => {
          const clock = movableClock();
          const h = await start({ bob: { rateLimits: { perSenderPerMinute: 3 }, now: clock.now } });
          // Requests for a recipient bob's pm does not hold still reach the rate-limit check.
          const nowhere = `${h.bob.site.url}nobody/`;
          // Refused before the check (400), these do not count.
          for (let i = 0; i < 5; i++) expectError(await postForm(h.bob.pm.url, without(notify(h), "message")), 400, "invalid_request");
          for (let i = 0; i < 3; i++) expectError(await postForm(h.bob.pm.url, notify(h, { recipient: nowhere })), 404, "unknown_recipient");
          for (const form of [notify(h), authorize(h)]) {
            const limited = await postForm(h.bob.pm.url, form);
            expectError(limited, 429, "rate_limited");
            const retryAfter = limited.headers.get("retry-after");
            expect(retryAfter).toMatch(/^\d+$/);
            expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
            expect(Number(retryAfter)).toBeLessThanOrEqual(60);
          }
          // Form and parameters are checked first (400 over 429).
          expectError(await postForm(h.bob.pm.url, without(notify(h), "message")), 400, "invalid_request");
          // Another sender has its own count; deliver is not rate limited (401 here).
          expectError(await postForm(h.bob.pm.url, notify(h, { sender: `${h.alice.site.url}someone-else/`, recipient: nowhere })), 404, "unknown_recipient");
          expectError(await postForm(h.bob.pm.url, deliver(h)), 401, "invalid_token");
          // A minute later the sender may come back.
          clock.advance(61_000);
          expectError(await postForm(h.bob.pm.url, notify(h, { recipient: nowhere })), 404, "unknown_recipient");
        });

        it("429-rate_limited-per-client-address", async () => {
          const h = await start({ bob: { rateLimits: { perClientPerMinute: 2 } } });
          const nowhere = `${h.bob.site.url}nobody/`;
          for (const who of ["a", "b"])
            expectError(await postForm(h.bob.pm.url, notify(h, { sender: `${h.alice.site.url}${who}/`, recipient: nowhere })), 404, "unknown_recipient");
          const limited = await postForm(h.bob.pm.url, notify(h, { sender: `${h.alice.site.url}c/`, recipient: nowhere }));
          expectError(limited, 429, "rate_limited");
          expect(limited.headers.get("retry-after")).toMatch(/^\d+$/);
        });

        it("429-rate_limited-to-notify: the sender waits for Retry-After, not its own back-off", async () => {
          // alice gives up after 10 minutes here (the harness: 1), so a Retry-After of up to 60 s is waited for.
          const h = await start({
            alice: { retry: { baseDelayMs: 50, maxDelayMs: 400, handshakeTimeoutMs: 3_000, giveUpAfterMs: 600_000 } },
            bob: { rateLimits: { perSenderPerMinute: 1 } },
          });
          expectError(await postForm(h.bob.pm.url, notify(h, { recipient: `${h.bob.site.url}nobody/` })), 404, "unknown_recipient");
          const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "later", flow: "message" });
          await waitFor(() => h.events.find((e) => e.action === "notify" && e.status === 429), 3_000, "a 429 to notify");
          const [delivery] = await waitFor(async () => {
            const found = await h.alice.pm.store.find<{ _id: string; nextAttemptAt: number }>("deliveries", { where: { error: "rate_limited" } });
            return found.length > 0 ? found : undefined;
          });
          expect((await h.alice.pm.pm.getMessage(sent.message)).sent!.deliveries[0]!.status).toBe("pending");
          // The harness backs off 50–400 ms; bob asked for the rest of its minute (whole seconds).
          expect((delivery!.nextAttemptAt as number) - Date.now()).toBeGreaterThan(1_000);
        });
      });

      describe("§2 500 server_error", () => {
        it("500-server_error-store-failure: a fixed description, no stack; logged; retried by the sender", async () => {
          const failing = new Set<CollectionName>();
          const log = recordingLogger();
          const h = await start({ wrapStore: { bob: faultyStore(failing) }, bob: { logger: log } });
          failing.add("inbox");
          const answer = await postForm(h.bob.pm.url, notify(h));
          expectError(answer, 500, "server_error");
          const text = JSON.stringify(answer.body);
          expect(text).not.toMatch(/injected|internal|\.ts|\bat\s|Error/);
          expect(log.errors).toEqual([expect.objectContaining({ data: { error: expect.stringContaining("injected failure") } })]);

          // alice's pm meets the same failure, retries (5xx), and gets through once the store is back.
          const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "after the failure", flow: "message" });
          await waitFor(() => h.events.find((e) => e.action === "notify" && e.status === 500), 3_000, "a 500 to notify");
          failing.clear();
          expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
          expect(await h.bob.pm.pm.inbox()).toEqual([expect.objectContaining({ content: "after the failure" })]);
        });
      });

      describe("§2 503 temporarily_unavailable", () => {
        it("503-temporarily_unavailable-request-while-the-recipient-site-is-down: the delivery stays pending", async () => {
          const h = await start();
          const bobStandIn = await scripted();
          h.bob.site.endpoint = bobStandIn.url;
          const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "x", flow: "message" });
          await bobStandIn.next("notify");
          await h.bob.site.stop();
          const token = "t".repeat(43);
          const requestIt = () => postForm(h.alice.pm.url, request(h, { message: sent.message, endpoint: bobStandIn.url, token }));
          expectError(await requestIt(), 503, "temporarily_unavailable");
          expect((await h.alice.pm.pm.getMessage(sent.message)).sent!.deliveries[0]!.status).toBe("pending");
          expect(bobStandIn.of("deliver")).toEqual([]);
          // The site is back: the same request now goes through and step 6 follows.
          await h.bob.site.resume();
          expect((await requestIt()).status).toBe(202);
          expect((await bobStandIn.next("deliver")).authorization).toBe(`Bearer ${token}`);
          expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
        });
      });

      describe("§2 a refused request consumes no code or token", () => {
        it("refusals of grant (400) leave the code usable; verify does not use it up", async () => {
          const h = await start();
          const bobStandIn = await scripted();
          h.bob.site.endpoint = bobStandIn.url;
          const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "with a code", flow: "token" });
          const code = (await bobStandIn.next("authorize")).params.get("code")!;
          const token = "standing-token-of-the-stand-in-0123456789ab";
          const grantIt = (extra: Params = {}) => postForm(h.alice.pm.url, grant(h, { code, endpoint: bobStandIn.url, token, ...extra }));
          expectError(await grantIt({ expires_in: "59" }), 400, "invalid_request");
          expectError(await grantIt({ endpoint: "not a url" }), 400, "invalid_request");
          expectError(await grantIt({ token: [token, token] }), 400, "invalid_request");
          expectError(await grantIt({ recipient: h.alice.site.url }), 400, "invalid_code");
          for (let i = 0; i < 2; i++) {
            const verified = await postForm(h.alice.pm.url, without(verify(h, { code }), "message"));
            expect({ status: verified.status, body: verified.body }).toEqual({ status: 200, body: { valid: true } });
          }
          // The real grant still completes the handshake, and step 6 uses its token.
          expect(await grantIt()).toMatchObject({ status: 202, body: { status: "accepted" } });
          expect((await bobStandIn.next("deliver")).authorization).toBe(`Bearer ${token}`);
          expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
          // Now the code is used up.
          expectError(await grantIt(), 400, "invalid_code");
        });

        it("refusals of request leave the pending delivery as it was", async () => {
          const h = await start();
          const bobStandIn = await scripted();
          h.bob.site.endpoint = bobStandIn.url;
          const sent = await h.alice.pm.pm.send({ from: h.alice.site.url, to: [h.bob.site.url], content: "by message flow", flow: "message" });
          await bobStandIn.next("notify");
          const token = "message-token-of-the-stand-in-0123456789ab";
          const requestIt = (extra: Params = {}) => postForm(h.alice.pm.url, request(h, { message: sent.message, endpoint: bobStandIn.url, token, ...extra }));
          expectError(await requestIt({ endpoint: "nope" }), 400, "invalid_request");
          expectError(await requestIt({ recipient: h.alice.site.url }), 404, "unknown_message");
          expectError(await requestIt({ message: `${sent.message}-other` }), 404, "unknown_message");
          expect(await requestIt()).toMatchObject({ status: 202 });
          expect((await bobStandIn.next("deliver")).authorization).toBe(`Bearer ${token}`);
          expect((await settled(h.alice.pm.pm, sent.message)).deliveries[0]!.status).toBe("delivered");
        });

        it("refusals of deliver leave the message token usable", async () => {
          const h = await start();
          const aliceStandIn = await scripted();
          h.alice.site.endpoint = aliceStandIn.url;
          const message = `${aliceStandIn.url}messages/1`;
          expect((await postForm(h.bob.pm.url, notify(h, { message }))).status).toBe(202);
          const token = (await aliceStandIn.next("request")).params.get("token")!;
          const deliverIt = (extra: Params = {}) => postForm(h.bob.pm.url, deliver(h, { message, content: "the real one", ...extra }), bearer(token));
          expectError(await deliverIt({ content: "x".repeat(64 * KiB + 1) }), 413, "too_large");
          expectError(await deliverIt({ published: "" }), 400, "invalid_request");
          expectError(await deliverIt({ message: `${message}-other` }), 401, "invalid_token");
          expectError(await deliverIt({ sender: `${h.alice.site.url}other/` }), 401, "invalid_token");
          expectError(await postForm(h.bob.pm.url, deliver(h, { message })), 401, "invalid_token");
          expect(await h.bob.pm.pm.inbox()).toEqual([]);
          expect(await deliverIt()).toMatchObject({ status: 201, body: { status: "delivered" } });
          expect(await h.bob.pm.pm.inbox()).toEqual([expect.objectContaining({ message, sender: h.alice.site.url, content: "the real one" })]);
        });
      });
    });
  });
}
