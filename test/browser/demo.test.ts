/**
 * The README's promise for a newcomer: `pnpm demo` prints each owner's inbox URL, and
 * each owner signs in out of the box through the demo's own IndieAuth server. This runs
 * the built demo as a newcomer would and signs in to both inboxes in Chromium.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { expectAccessible, launchChromium, skipBrowserTests, watch, type LaunchedBrowser } from "./chromium.js";

const main = fileURLToPath(new URL("../../packages/demo/dist/main.js", import.meta.url));
let child: ChildProcess | undefined;
let browser: LaunchedBrowser | undefined;

afterAll(async () => {
  await browser?.close();
  child?.kill("SIGTERM");
});

/** Runs the demo until it prints its "Look around" section; resolves its stdout so far. */
function runDemo(): Promise<string> {
  return new Promise((resolve, reject) => {
    child = spawn(process.execPath, [main, "--port-base", "0"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const timer = setTimeout(() => reject(new Error(`The demo did not get ready in time:\n${out}`)), 60_000);
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes("Look around")) {
        clearTimeout(timer);
        resolve(out);
      }
    });
    child.on("exit", (code) => reject(new Error(`The demo exited (${code}):\n${out}`)));
  });
}

describe.skipIf(skipBrowserTests)("pnpm demo: the owners' inboxes", () => {
  it("prints both inboxes and how to sign in, and each owner signs in out of the box", { timeout: 120_000 }, async () => {
    const out = await runDemo();
    const inboxes = [...out.matchAll(/^ {2}(http:\/\/\S+) {3}(Alice|Bob)'s inbox: sign in as (http:\/\/\S+)$/gm)].map((m) => ({
      url: m[1]!,
      who: m[2]!,
      site: m[3]!,
    }));
    expect(inboxes.map((i) => i.who)).toEqual(["Alice", "Bob"]);
    browser = await launchChromium();
    for (const inbox of inboxes) {
      const page = await browser.context.newPage();
      const seen = watch(page);
      await page.goto(inbox.url);
      await expectAccessible(page, `${inbox.who}'s sign-in page`);
      await page.getByLabel("Your site").fill(inbox.site);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("button", { name: "Approve" }).waitFor();
      await expectAccessible(page, `the demo's authorization page for ${inbox.who}`);
      await page.getByRole("button", { name: "Approve" }).click();
      await page.waitForURL(inbox.url);
      await page.getByRole("heading", { name: "Conversations" }).waitFor();
      await expectAccessible(page, `${inbox.who}'s conversation list`);
      // The demo's two messages are there: alice got bob's reply, bob alice's hello.
      expect(await page.locator("li.conversation").count()).toBeGreaterThan(0);
      expect(seen).toEqual({ dialogs: [], errors: [] });
      await page.close();
    }
  });
});
