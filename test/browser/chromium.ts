/**
 * Real headless Chromium for the browser tests: Debian's `chromium` package driven by
 * playwright-core (no browser download). A fresh, empty profile per launch. The tests
 * skip, saying why, only where /usr/bin/chromium is missing outside CI; in CI they run
 * (and fail loudly when the browser is missing: `.ci/run` installs it).
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
export const haveChromium = existsSync(CHROMIUM);
/** Skip only on a developer's machine without the browser. */
export const skipBrowserTests = !haveChromium && !process.env.CI;
if (skipBrowserTests) {
  console.warn(`test/browser: skipped — ${CHROMIUM} is missing (apt-get install -y chromium). In CI (CI set) these tests run.`);
}

export const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Where screenshots go: artifacts/ at the repository root (not committed). */
export const ARTIFACTS = fileURLToPath(new URL("../../artifacts/screenshots/", import.meta.url));

export interface LaunchedBrowser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Chromium with a new empty user-data-dir. */
export async function launchChromium(): Promise<LaunchedBrowser> {
  const profile = await mkdtemp(join(tmpdir(), "indiepm-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 860 },
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** What a page did that it should not: dialogs (alert/confirm/prompt), console errors, uncaught exceptions. */
export function watch(page: Page): { dialogs: string[]; errors: string[] } {
  const seen = { dialogs: [] as string[], errors: [] as string[] };
  page.on("dialog", (dialog) => {
    seen.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss().catch(() => undefined);
  });
  page.on("console", (message) => {
    if (message.type() === "error") seen.errors.push(message.text());
  });
  page.on("pageerror", (error) => seen.errors.push(`pageerror: ${error.message}`));
  return seen;
}

/** Screenshots at desktop and phone widths. */
export async function screenshots(page: Page, name: string): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  const original = page.viewportSize();
  for (const [label, size] of [
    ["desktop", { width: 1280, height: 860 }],
    ["phone", { width: 390, height: 844 }],
  ] as const) {
    await page.setViewportSize(size);
    await page.screenshot({ path: join(ARTIFACTS, `${name}-${label}.png`), fullPage: true });
  }
  if (original) await page.setViewportSize(original);
}
