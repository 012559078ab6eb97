/**
 * IndieAuth §5.4 "Authorization Server Confirmation" (issue 9 item 6): on one host
 * holding `/~alice/` and `/~bob/`, each naming its own authorization server, what the
 * authorization endpoint answers as `me` decides whose session opens — over real
 * loopback servers (the sites, the pm server with its inbox, two authorization servers).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Browser, startSharedHost, type SharedHost } from "./support.js";

let shared: SharedHost;
beforeEach(async () => {
  shared = await startSharedHost();
});
afterEach(async () => {
  await shared.close();
});

const sessionsOpened = async () =>
  ((await shared.store.find("sessions")) as unknown as { kind: string; data: { site?: string } }[])
    .filter((d) => d.kind === "web-session")
    .map((d) => d.data.site);
const sessionCookies = (b: Browser) => [...b.cookies.keys()].filter((k) => k.startsWith("indiepm_session_"));

describe("IndieAuth §5.4: the me the authorization endpoint returns", () => {
  it("alice's endpoint answering with bob's me (bob names another endpoint) opens no session: not for bob, not for alice", async () => {
    const b = new Browser();
    const error = await b.signIn(shared.asInboxHost(shared.alice, shared.aliceAuth), shared.alice, shared.bob).catch((e: Error) => e);
    expect(String(error)).toMatch(/callback answered 400/);
    expect(String(error)).toContain("names another authorization endpoint than the one");
    expect(sessionCookies(b)).toEqual([]);
    expect(await sessionsOpened()).toEqual([]);
    expect(await (await b.fetch(`${shared.pm.endpoint}settings`)).status).toBe(303);
  });

  it("a different me on the same host whose page names the authorization endpoint used signs in as that site", async () => {
    // bob's page now names alice's authorization server: bob chose it, so it speaks for him.
    shared.links.bob = shared.links.alice;
    const b = new Browser();
    const page = await b.signIn(shared.asInboxHost(shared.alice, shared.aliceAuth), shared.alice, shared.bob);
    expect(page).toContain(`title="${shared.bob}"`);
    expect(await sessionsOpened()).toEqual([shared.bob]);
  });

  it("the me entered, returned as is, signs in as that site (no second discovery needed)", async () => {
    const b = new Browser();
    const page = await b.signIn(shared.asInboxHost(shared.alice, shared.aliceAuth), shared.alice, shared.alice);
    expect(page).toContain(`title="${shared.alice}"`);
    expect(await sessionsOpened()).toEqual([shared.alice]);
  });
});
