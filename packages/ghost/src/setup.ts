/**
 * `setupGhost`: puts the `rel=pm` link into a Ghost site's site-wide code injection
 * through the Admin API (or takes it out), then proves it is live by running the
 * discovery of PROTOCOL.md §1 on the site's home page.
 *
 * The network sits behind two small seams: `fetch` for Ghost's Admin API (the owner's
 * own server, named by the owner) and `discover` for the proof: PROTOCOL.md §1 run as a
 * pm server runs it, through §6's guarded client. The `indiepm` CLI passes
 * `@indiepm/core`'s `discoverEndpoint`, so this package needs only the protocol's rules.
 */
import { refusalOf } from "@indiepm/protocol";
import { createGhostAdminClient, parseAdminKey, type GhostIdentity } from "./admin-api.js";
import { pmLinkTag, removePmLink, setPmLink, type CodeInjectionAction, type PmLinkElement } from "./code-injection.js";
import { GhostError } from "./errors.js";

/** The setting `{{ghost_head}}` prints on every page (Settings → Code injection → Site header). */
export const CODE_INJECTION_SETTING = "codeinjection_head";

export interface GhostSetupOptions {
  /** Ghost's public URL (its `url`). */
  siteUrl: string;
  /** Ghost's admin URL when it is not the site URL (Ghost's `admin.url`). */
  adminUrl?: string;
  /** A staff access token, `{id}:{secret}`. */
  staffToken: string;
  /** The pm endpoint the site should name; `null` takes the link out. */
  endpoint: string | null;
  /** Reads and shows the change, writes nothing and proves nothing. */
  dryRun?: boolean;
  /** Development mode: http and loopback/private addresses allowed (as `--dev` everywhere). */
  dev?: boolean;
  /** For the Admin API; default global `fetch`. */
  fetch?: typeof globalThis.fetch;
  /**
   * For the proof: PROTOCOL.md §1 discovery of a site, as
   * `(site) => discoverEndpoint(site, createHttpClient({ dev }), { dev })` with
   * `@indiepm/core`. Not needed for a dry run.
   */
  discover?: (siteUrl: string) => Promise<SiteDiscovery>;
  /** How many times the proof looks before it gives up (a cache in front of Ghost may lag); default 4, 1 s apart. */
  proofAttempts?: number;
  proofDelayMs?: number;
}

/** What the proof reads of a discovery (`@indiepm/core`'s `Discovery` is one). */
export interface SiteDiscovery {
  /** The endpoint the site names, or `null` when it names none. */
  endpoint: string | null;
  /** The final URL of the response, after redirects. */
  url: string;
  /** Where the endpoint came from: a `Link` header (§1 step 2), the HTML (step 3), or nowhere. */
  source: "link-header" | "html" | "none";
}

export interface GhostSetupResult {
  site: string;
  /** The endpoint set, or `null` when it was removed. */
  endpoint: string | null;
  action: CodeInjectionAction;
  /** Whether the code injection differs (on a dry run: would differ). */
  changed: boolean;
  /** Whether it was written to Ghost. */
  written: boolean;
  before: string;
  after: string;
  /** The pm links that were there before. */
  found: PmLinkElement[];
  /** Who the key speaks for. */
  identity: GhostIdentity;
  /** What discovery on the home page found afterwards; absent on a dry run. */
  proof?: SiteDiscovery;
}

/** Ghost refused the change because the key is an integration's: what to paste by hand instead. */
export interface ManualStep {
  /** The element to add (`setPmLink`), or the elements to delete (`removePmLink`). */
  snippet: string;
  action: "add" | "remove";
}

function checkedUrl(name: string, value: string, dev: boolean): URL {
  if (!URL.canParse(value)) throw new GhostError("invalid_option", `${name} must be an absolute http(s) URL, got ${JSON.stringify(value)}`);
  const url = new URL(value);
  const refusal = refusalOf(url, { dev });
  if (refusal)
    throw new GhostError(
      "invalid_option",
      `${name} ${url.href} is refused: ${refusal.replace(/development mode/g, "--dev")}${dev ? "" : " (--dev allows it)"}`,
    );
  return url;
}

/** What an owner with only an integration key pastes into Settings → Code injection → Site header. */
export function manualStep(endpoint: string | null, found: readonly PmLinkElement[]): ManualStep {
  if (endpoint === null) return { action: "remove", snippet: found.map((element) => element.source).join("\n") };
  return { action: "add", snippet: pmLinkTag(endpoint) };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Reads the site-wide code injection, merges the pm link in (or out), writes it back
 * when it changed, and proves the home page names the endpoint (or no longer names
 * the one removed).
 * @throws GhostError: `invalid_option`, `invalid_key`, `integration_key` (with a
 *   {@link ManualStep} in `manual`), `unauthorized`, `forbidden`, `not_ghost`,
 *   `redirected`, `ghost_error`, `network_error`, `not_live`.
 */
export async function setupGhost(options: GhostSetupOptions): Promise<GhostSetupResult> {
  const dev = options.dev ?? false;
  const site = checkedUrl("the Ghost URL", options.siteUrl, dev);
  const admin = checkedUrl("the admin URL", options.adminUrl ?? options.siteUrl, dev);
  const endpoint = options.endpoint === null ? null : checkedUrl("the pm endpoint", options.endpoint, dev).href;
  const key = parseAdminKey(options.staffToken);
  const client = createGhostAdminClient({ adminUrl: admin.href, key, ...(options.fetch ? { fetch: options.fetch } : {}) });

  const identity = await client.whoAmI();
  const settings = await client.readSettings();
  const current = settings[CODE_INJECTION_SETTING];
  const before = typeof current === "string" ? current : "";
  const change = endpoint === null ? removePmLink(before) : setPmLink(before, endpoint);
  const result: GhostSetupResult = {
    site: site.href,
    endpoint,
    action: change.action,
    changed: change.changed,
    written: false,
    before,
    after: change.html,
    found: change.found,
    identity,
  };
  if (options.dryRun) return result;

  if (change.changed) {
    if (identity.kind === "integration") throw integrationRefusal(endpoint, change.found);
    try {
      await client.editSettings([{ key: CODE_INJECTION_SETTING, value: change.html }]);
    } catch (error) {
      if (error instanceof GhostError && error.code === "integration_key") throw integrationRefusal(endpoint, change.found, error);
      throw error;
    }
    result.written = true;
  }

  if (!options.discover)
    throw new GhostError("invalid_option", "setupGhost needs discover (core's discoverEndpoint over its http client) to prove the link is live");
  result.proof = await prove(site.href, endpoint, change.found, options.discover, options.proofAttempts ?? 4, options.proofDelayMs ?? 1_000);
  return result;
}

/** The refusal for an integration key, carrying what to paste by hand. */
export class IntegrationKeyError extends GhostError {
  constructor(
    readonly manual: ManualStep,
    cause?: unknown,
  ) {
    super(
      "integration_key",
      "Ghost lets a custom integration's Admin API key only read settings (it answers 501 to any change), so use a staff access token (Settings → Staff → your profile → Staff access token) or paste the snippet into Settings → Code injection → Site header by hand",
      cause === undefined ? undefined : { cause },
    );
  }
}

function integrationRefusal(endpoint: string | null, found: readonly PmLinkElement[], cause?: unknown): IntegrationKeyError {
  return new IntegrationKeyError(manualStep(endpoint, found), cause);
}

async function prove(
  siteUrl: string,
  endpoint: string | null,
  found: readonly PmLinkElement[],
  discover: (siteUrl: string) => Promise<SiteDiscovery>,
  attempts: number,
  delayMs: number,
): Promise<SiteDiscovery> {
  const removed = new Set(
    found.flatMap((element) => (element.href !== undefined && URL.canParse(element.href, siteUrl) ? [new URL(element.href, siteUrl).href] : [])),
  );
  let last: SiteDiscovery | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      last = await discover(siteUrl);
    } catch (error) {
      throw new GhostError(
        "not_live",
        `Ghost took the change, but discovery on ${siteUrl} failed: ${error instanceof Error ? error.message.replace(/\.$/, "") : String(error)}`,
        { cause: error },
      );
    }
    const live = endpoint === null ? last.endpoint === null || !removed.has(last.endpoint) : last.endpoint === endpoint;
    // What SiteDiscovery names, and nothing more a discover function may add (core's redirect chain).
    if (live) return { endpoint: last.endpoint, url: last.url, source: last.source };
    if (attempt < attempts) await sleep(delayMs);
  }
  const seen =
    last?.endpoint === null || last === undefined
      ? "no pm endpoint"
      : `${last.endpoint} (${last.source === "link-header" ? "from a Link header" : "from an earlier link in the page, perhaps the theme's"})`;
  if (endpoint === null) {
    throw new GhostError(
      "not_live",
      `the link is gone from the code injection, but ${siteUrl} still names ${seen}; a cache in front of Ghost may still hold the page`,
    );
  }
  throw new GhostError(
    "not_live",
    `the code injection names ${endpoint}, but discovery on ${siteUrl} finds ${seen}; a cache in front of Ghost may still hold the old page, or {{ghost_head}} is missing from the theme`,
  );
}
