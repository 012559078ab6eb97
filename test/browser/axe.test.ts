/**
 * The accessibility check every browser test runs on each page it visits
 * (`expectAccessible`, chromium.ts): shown here to fail on a page with violations and
 * to pass on one without, so a clean run of the inbox's pages means something.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectAccessible, launchChromium, skipBrowserTests, type LaunchedBrowser } from "./chromium.js";

let browser: LaunchedBrowser;

describe.skipIf(skipBrowserTests)("axe-core in Chromium", () => {
  beforeAll(async () => {
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  it("names each violation: an image without alt, a field without a label, text without contrast", { timeout: 60_000 }, async () => {
    const page = await browser.context.newPage();
    await page.setContent(`<!doctype html><html lang="en"><head><title>t</title></head><body><main><h1>Bad</h1>
      <img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
      <input type="text">
      <p style="color:#eee;background:#fff">faint</p></main></body></html>`);
    const failure = await expectAccessible(page, "a bad page").then(
      () => undefined,
      (error: Error) => error.message,
    );
    expect(failure).toMatch(/image-alt/);
    expect(failure).toMatch(/label/);
    expect(failure).toMatch(/color-contrast/);
    await page.close();
  });

  it("passes a page without violations", { timeout: 60_000 }, async () => {
    const page = await browser.context.newPage();
    await page.setContent(`<!doctype html><html lang="en"><head><title>Good</title></head><body><main><h1>Good</h1>
      <label for="f">Name</label> <input id="f" type="text"></main></body></html>`);
    await expectAccessible(page, "a good page");
    await page.close();
  });
});
