/**
 * Real headless Chromium for the browser tests: Debian's `chromium` package driven by
 * playwright-core (no browser download). A fresh, empty profile per launch. The tests
 * skip, saying why, only where /usr/bin/chromium is missing outside CI; in CI they run
 * (and fail loudly when the browser is missing: `.ci/run` installs it).
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
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

/** One axe-core violation, as the report names it: rule, impact, and the elements. */
export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

let axeSource: Promise<string> | undefined;

/**
 * Runs axe-core (WCAG 2.x A and AA rules, plus best practices) on the page as it stands
 * and returns its violations. The script is evaluated through the DevTools protocol, so the
 * inbox's Content-Security-Policy stays as it is; the page is not changed otherwise.
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  axeSource ??= readFile(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
  const source = await axeSource;
  await page.evaluate(source);
  return page.evaluate(async () => {
    const axe = (
      globalThis as unknown as {
        axe: {
          run(
            context: unknown,
            options: unknown,
          ): Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }>;
        };
      }
    ).axe;
    const result = await axe.run(document, {
      resultTypes: ["violations"],
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"] },
    });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.map(String).join(" ")) }));
  });
}

/**
 * Fails (throws) when axe-core finds any violation on the page, naming each rule and element.
 * `label` says which page it was. Use on every page a test visits.
 */
export async function expectAccessible(page: Page, label: string): Promise<void> {
  const violations = await axeViolations(page);
  if (violations.length > 0) {
    const lines = violations.map((v) => `  ${v.id} (${v.impact}): ${v.help} — ${v.targets.slice(0, 5).join(", ")}`);
    throw new Error(`axe-core: ${violations.length} violation(s) on ${label} (${page.url()}):\n${lines.join("\n")}`);
  }
}
