/**
 * Issue 9 item 10: `POST /signin` makes this server fetch the site named (and its
 * IndieAuth metadata), so it is limited per client address, and a sign-in form's token
 * is good for one post. Counted in what matters: the fetches the site receives.
 */
import { afterEach, describe, expect, it } from "vitest";
import { PreSignInTokens, SignInLimiter } from "../src/sign-in-guard.js";
import { Browser, startInboxHost, type InboxHost } from "./support.js";

let host: InboxHost | undefined;
afterEach(async () => {
  await host?.close();
  host = undefined;
});

/** A sign-in form's token and its cookie, as a fresh browser gets them. */
async function freshForm(h: InboxHost): Promise<{ csrf: string; cookie: string }> {
  const res = await fetch(h.pmUrl);
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0]!)
    .join("; ");
  return { csrf: Browser.csrf(await res.text()), cookie };
}

function postSignIn(h: InboxHost, form: { csrf: string; cookie: string }, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${h.pmUrl}signin`, {
    method: "POST",
    redirect: "manual",
    body: new URLSearchParams({ csrf: form.csrf, me: h.site }),
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      origin: new URL(h.pmUrl).origin,
      "sec-fetch-site": "same-origin",
      cookie: form.cookie,
      ...headers,
    },
  });
}

/** Runs `n` tasks, `width` at a time. */
async function inBatches<T>(n: number, width: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += width) out.push(...(await Promise.all(Array.from({ length: Math.min(width, n - i) }, (_, j) => task(i + j)))));
  return out;
}

describe("POST /signin: limited per client address", () => {
  it("500 sign-ins from one address, each with a fresh form, make at most 10 fetches; the rest are 429 with Retry-After", { timeout: 60_000 }, async () => {
    host = await startInboxHost();
    const h = host;
    const answers = await inBatches(500, 50, async () => {
      const res = await postSignIn(h, await freshForm(h));
      await res.arrayBuffer();
      return { status: res.status, retryAfter: res.headers.get("retry-after") };
    });
    // Every answer is in: the fetches the server made are all made.
    expect(h.siteFetches()).toBe(10);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(10);
    const limited = answers.filter((a) => a.status === 429);
    expect(limited).toHaveLength(490);
    for (const a of limited) expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(1);
    for (const a of limited) expect(Number(a.retryAfter)).toBeLessThanOrEqual(60);
  });

  it("behind a trusted proxy, counts each client by the address X-Forwarded-For names", async () => {
    host = await startInboxHost({ trustProxy: "loopback", inbox: { signInsPerMinute: 2 } });
    const h = host;
    const from = async (client: string) => (await postSignIn(h, await freshForm(h), { "x-forwarded-for": client })).status;
    expect([await from("203.0.113.1"), await from("203.0.113.1"), await from("203.0.113.1")]).toEqual([200, 200, 429]);
    expect(await from("203.0.113.2")).toBe(200);
    expect(h.siteFetches()).toBe(3);
  });

  it("counts IPv6 clients by their /64, as the engine's rate limits do: a new address in the same /64 is the same client", async () => {
    host = await startInboxHost({ trustProxy: "loopback", inbox: { signInsPerMinute: 2 } });
    const h = host;
    const from = async (client: string) => (await postSignIn(h, await freshForm(h), { "x-forwarded-for": client })).status;
    expect([await from("2001:db8:1:2::1"), await from("2001:db8:1:2::2"), await from("2001:db8:1:2:ffff::3")]).toEqual([200, 200, 429]);
    expect(await from("2001:db8:1:3::1")).toBe(200);
    expect(h.siteFetches()).toBe(3);
  });

  it("without a trusted proxy, a client's own X-Forwarded-For does not make it a new client", async () => {
    host = await startInboxHost({ inbox: { signInsPerMinute: 2 } });
    const h = host;
    const statuses = [];
    for (const client of ["203.0.113.1", "203.0.113.2", "203.0.113.3"])
      statuses.push((await postSignIn(h, await freshForm(h), { "x-forwarded-for": client })).status);
    expect(statuses).toEqual([200, 200, 429]);
    expect(h.siteFetches()).toBe(2);
  });

  it("posts from another origin are refused (403) and spend nothing of the owner's allowance", async () => {
    host = await startInboxHost({ inbox: { signInsPerMinute: 2 } });
    const h = host;
    for (let i = 0; i < 20; i++)
      expect((await postSignIn(h, await freshForm(h), { origin: "http://evil.example", "sec-fetch-site": "cross-site" })).status).toBe(403);
    expect([(await postSignIn(h, await freshForm(h))).status, (await postSignIn(h, await freshForm(h))).status]).toEqual([200, 200]);
    expect(h.siteFetches()).toBe(2);
  });
});

describe("POST /signin: a form's token is good for one post", () => {
  it("500 posts of one form make one fetch; the others are refused before anything is fetched", { timeout: 60_000 }, async () => {
    host = await startInboxHost({ inbox: { signInsPerMinute: 1000 } });
    const h = host;
    const form = await freshForm(h);
    const answers = await inBatches(500, 50, async () => {
      const res = await postSignIn(h, form);
      return { status: res.status, text: await res.text() };
    });
    expect(h.siteFetches()).toBe(1);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    const refused = answers.filter((a) => a.status === 400);
    expect(refused).toHaveLength(499);
    expect(refused[0]!.text).toContain("This sign-in form was already used or has expired.");
  });

  it("a token this inbox did not issue is refused, as is an expired one", async () => {
    host = await startInboxHost();
    const h = host;
    const invented = "x".repeat(43);
    const res = await postSignIn(h, { csrf: invented, cookie: `${(await freshForm(h)).cookie.split("=")[0]}=${invented}` });
    expect(res.status).toBe(400);
    expect(h.siteFetches()).toBe(0);

    const tokens = new PreSignInTokens(60_000);
    const token = tokens.issue(1_000);
    expect(tokens.redeem(token, 61_000)).toBe(false);
    const [expiry, nonce, mac] = tokens.issue(1_000).split(".");
    expect(tokens.redeem(`${(Number.parseInt(expiry!, 36) + 1e9).toString(36)}.${nonce}.${mac}`, 2_000)).toBe(false);
    expect(tokens.redeem(token, 2_000)).toBe(true);
    expect(tokens.redeem(token, 2_000)).toBe(false);
  });
});

describe("bounded memory", () => {
  it("the limiter keeps at most maxClients addresses, dropping the oldest", () => {
    const limiter = new SignInLimiter(1, 3);
    for (const client of ["a", "b", "c", "d", "e"]) expect(limiter.hit(client, 0)).toBeUndefined();
    expect(limiter.size).toBe(3);
    expect(limiter.hit("e", 1)).toBe(60);
  });

  it("the used tokens kept are at most maxUsed", () => {
    const tokens = new PreSignInTokens(60_000, 2);
    const issued = [1, 2, 3].map(() => tokens.issue(0));
    for (const t of issued) expect(tokens.redeem(t, 1)).toBe(true);
    // The newest is still remembered.
    expect(tokens.redeem(issued[2]!, 1)).toBe(false);
  });
});
