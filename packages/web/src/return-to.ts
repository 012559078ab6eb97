/**
 * Sign-in returns to the page it interrupted (issue 12): a request that found no session
 * is sent to the sign-in page with `?return=` naming where it was, the sign-in form
 * carries it, the sign-in under way keeps it (sign-in.ts), and the callback redirects
 * there. Only a path relative to the inbox is ever taken — no scheme, no host, no leading
 * or double slash, no `..` — and it is always put after the inbox's own base path, so it
 * can name nothing but a page of this inbox (never an open redirect).
 */

/** A relative path under the inbox, with an optional query of plain characters. */
const SAFE = /^(?![/\\])(?!.*\/\/)(?!.*\.\.)[A-Za-z0-9_\-/.]{1,200}(?:\?[A-Za-z0-9_\-=&%.~+]{0,300})?$/;

/** `value` when it is a safe path relative to the inbox's base (as `?return=` and the sign-in form carry it), else `undefined`. */
export function safeReturn(value: unknown): string | undefined {
  return typeof value === "string" && SAFE.test(value) ? value : undefined;
}

/**
 * Where a form posted from a page of the inbox sends the owner back to: its `back` field
 * when `safeReturn` takes it, else `fallback`. The one rule of every form that returns to
 * the page it was on (mute and block, Retry now and Cancel, a message's Mark read and Delete).
 */
export function backPath(value: string | null | undefined, fallback: string): string {
  return safeReturn((value ?? "").trim()) ?? fallback;
}

/** `path` (relative to the inbox) with `notice=NOTICE` added to its query. */
export function withNotice(path: string, notice: string): string {
  return `${path}${path.includes("?") ? "&" : "?"}notice=${notice}`;
}

/**
 * Where to come back to after signing in, for a `method` request of `path` (relative to
 * the inbox, starting with `/`) that found no session: the page itself for a GET; for a
 * form posted from a thread, a person's page, compose or settings, that page (what was typed is kept by
 * the browser's draft, app.js). `undefined`: the inbox.
 */
export function returnPathOf(method: string, path: string, query: URLSearchParams): string | undefined {
  if (method === "POST") {
    const thread = /^\/([cp])\/([A-Za-z0-9_-]{1,100})(?:\/|$)/.exec(path);
    if (thread) return `${thread[1]}/${thread[2]}`;
    if (path === "/compose") return "compose";
    if (path === "/settings" || path.startsWith("/settings/")) return "settings";
    return undefined;
  }
  if (method !== "GET" || path === "/" || path.endsWith(".json")) return undefined;
  const search = query.toString();
  return safeReturn(`${path.slice(1)}${search ? `?${search}` : ""}`);
}
