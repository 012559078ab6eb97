/**
 * PROTOCOL.md §6 "Identity" at §3/§4 step 3: when E_R discovers S, a redirect to another
 * origin counts only when it is permanent (301, 308), as IndieAuth treats profile URLs
 * (IndieAuth §3.3 "Redirect examples"); a temporary one (302, 303, 307) to another origin
 * fails the check, so an open redirect on a site cannot lend its name to a stranger.
 * Temporary redirects within the origin the site has (after any permanent move) count.
 */
import type { RedirectHop } from "../http/types.js";

const PERMANENT = new Set([301, 308]);

/**
 * Pure: why the redirect chain of S's discovery (`Discovery.chain`: each answer in
 * order, the last the final one) does not speak for S, or `undefined` when it does.
 */
export function identityRedirectRefusal(chain: readonly RedirectHop[]): string | undefined {
  const first = chain[0];
  if (!first) return undefined;
  let origin = new URL(first.url).origin;
  for (let i = 0; i + 1 < chain.length; i++) {
    const hop = chain[i]!;
    const target = new URL(chain[i + 1]!.url).origin;
    if (target === origin) continue;
    if (!PERMANENT.has(hop.status)) {
      const how = hop.status === 0 ? "a redirect of unknown status" : `a temporary redirect (${hop.status})`;
      return `${hop.url} answered with ${how} to another origin, ${target}; only a permanent one (301, 308) moves a site's identity (PROTOCOL.md §6 Identity).`;
    }
    origin = target;
  }
  return undefined;
}
