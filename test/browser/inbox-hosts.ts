/**
 * The seed's four hosts with both owners' web inboxes, and Chromium, for browser tests:
 * alice's pm server is the standalone kind (inbox at its root), bob's an Express app with
 * `indiepmInbox()` at /inbox/; both sites name an IndieAuth authorization server on
 * loopback. One per test file (`startInboxHosts()` in `beforeAll`, `close()` in `afterAll`).
 */
import express from "express";
import type { Page } from "playwright-core";
import { indiepm, indiepmInbox } from "@indiepm/express";
import { startDevAuthorizationServer, type DevAuthorizationServer } from "@indiepm/test-support";
import { fourHosts, type FourHosts, type FourHostsOptions } from "../harness/hosts.js";
import { launchChromium, type LaunchedBrowser } from "./chromium.js";

export interface InboxHosts {
  hosts: FourHosts;
  auth: DevAuthorizationServer;
  browser: LaunchedBrowser;
  /** alice's inbox URL (the pm server's root). */
  aliceInbox: string;
  /** bob's inbox URL (`/inbox/` of his Express app). */
  bobInbox: string;
  bobRouter: ReturnType<typeof indiepmInbox>;
  /** Sign in through the inbox's form, the authorization server's page, and back to `returnTo` (default: the inbox). */
  signIn(page: Page, inboxUrl: string, site: string): Promise<void>;
  close(): Promise<void>;
}

export async function startInboxHosts(options: Omit<FourHostsOptions, "inbox"> = {}): Promise<InboxHosts> {
  const hosts = await fourHosts({ ...options, inbox: true });
  const auth = await startDevAuthorizationServer({ sites: [hosts.alice.site.url, hosts.bob.site.url] });
  // alice's site names its IndieAuth metadata in a Link header, bob's in <link> elements.
  hosts.alice.site.links = [auth.linkHeader];
  hosts.bob.site.head = auth.linkElements;
  const bobInbox = `${hosts.bob.pm.url}inbox/`;
  const bobRouter = indiepmInbox({ server: hosts.bob.pm.pm, url: bobInbox, pollSeconds: 1 });
  const app = express();
  app.use("/inbox", bobRouter);
  app.use("/", indiepm({ server: hosts.bob.pm.pm }));
  hosts.bob.pm.handler = app;
  const browser = await launchChromium();
  return {
    hosts,
    auth,
    browser,
    aliceInbox: hosts.alice.pm.url,
    bobInbox,
    bobRouter,
    async signIn(page, inboxUrl, site) {
      if (!page.url().startsWith(inboxUrl)) await page.goto(inboxUrl);
      await page.getByLabel("Your site").fill(site);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForURL(`${auth.url}**`);
      await page.getByRole("button", { name: "Approve" }).click();
      await page.waitForURL((url) => url.href.startsWith(inboxUrl) && !url.pathname.endsWith("/auth/callback"));
    },
    async close() {
      await browser.close();
      await bobRouter.close();
      await auth.close();
      await hosts.close();
    },
  };
}
