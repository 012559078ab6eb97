/**
 * The IndieAuth endpoints of the sites this server holds, discovered from each site
 * itself (indieauth.ts, IndieAuth §4.1) through the guarded client and kept a few
 * minutes: the DM profile page names them (profile.ts) and tokens are checked at the
 * token endpoint they name (tokens.ts). Bounded in entries and time; a failed discovery
 * is kept only briefly, so a site that comes back is seen again soon.
 */
import type { HttpClient, UrlPolicy } from "@indiepm/core";
import { WebInboxError } from "../errors.js";
import { discoverAuthorizationServer, type AuthorizationServer } from "../indieauth.js";

export interface SiteDiscovery {
  /** The site's authorization server (and token endpoint); @throws WebInboxError with a sentence when it cannot be discovered. */
  get(site: string): Promise<AuthorizationServer>;
}

export interface SiteDiscoveryOptions {
  http: HttpClient;
  policy: UrlPolicy;
  now?: () => number;
  /** How long a discovered server is kept (default 5 minutes). */
  ttlMs?: number;
  /** How long a failed discovery is kept (default 30 seconds). */
  failureTtlMs?: number;
  /** Most sites kept (default 1,000). */
  maxEntries?: number;
}

export const DISCOVERY_DEFAULTS = { ttlMs: 5 * 60_000, failureTtlMs: 30_000, maxEntries: 1_000 } as const;

type Entry = { expiresAt: number } & ({ server: AuthorizationServer } | { error: WebInboxError });

export function createSiteDiscovery(options: SiteDiscoveryOptions): SiteDiscovery {
  const now = options.now ?? Date.now;
  const ttlMs = options.ttlMs ?? DISCOVERY_DEFAULTS.ttlMs;
  const failureTtlMs = options.failureTtlMs ?? DISCOVERY_DEFAULTS.failureTtlMs;
  const maxEntries = options.maxEntries ?? DISCOVERY_DEFAULTS.maxEntries;
  const kept = new Map<string, Entry>();
  const pending = new Map<string, Promise<AuthorizationServer>>();

  const keep = (site: string, entry: Entry) => {
    kept.delete(site);
    if (kept.size >= maxEntries) {
      const at = now();
      for (const [key, e] of kept) if (e.expiresAt <= at) kept.delete(key);
      while (kept.size >= maxEntries) kept.delete(kept.keys().next().value!);
    }
    kept.set(site, entry);
  };

  async function discover(site: string): Promise<AuthorizationServer> {
    try {
      const server = await discoverAuthorizationServer(options.http, site, options.policy);
      keep(site, { server, expiresAt: now() + ttlMs });
      return server;
    } catch (cause) {
      const error =
        cause instanceof WebInboxError
          ? cause
          : new WebInboxError("discovery_failed", `${site} could not be read: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
      keep(site, { error, expiresAt: now() + failureTtlMs });
      throw error;
    }
  }

  return {
    async get(site) {
      const entry = kept.get(site);
      if (entry && entry.expiresAt > now()) {
        if ("server" in entry) return entry.server;
        throw entry.error;
      }
      // One discovery at a time per site: a burst of requests waits for the same answer.
      const running = pending.get(site);
      if (running) return running;
      const started = discover(site).finally(() => pending.delete(site));
      pending.set(site, started);
      return started;
    },
  };
}
