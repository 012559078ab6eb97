/**
 * The inbox's own script, stylesheet and icon (`static/`), from its own origin as the CSP
 * requires: read once, revalidated by ETag (`no-cache`), nothing else served.
 */
import { readFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { securityHeaders } from "./security.js";

const STATIC_FILES: Record<string, string> = {
  "app.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
  "icon.svg": "image/svg+xml",
};

const STATIC_DIR = new URL("../static/", import.meta.url);

export interface StaticFiles {
  /** The file's answer, or `undefined` when there is no such file. */
  serve(name: string, request: Request): Promise<Response | undefined>;
}

/** Per inbox, not per module: each inbox reads its files once. */
export function createStaticFiles(): StaticFiles {
  const cache = new Map<string, Promise<{ body: Uint8Array; etag: string }>>();
  return {
    async serve(name, request) {
      const type = STATIC_FILES[name];
      if (!type) return undefined;
      let entry = cache.get(name);
      if (!entry) {
        entry = readFile(new URL(name, STATIC_DIR)).then((body) => ({ body, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 16)}"` }));
        cache.set(name, entry);
      }
      const { body, etag } = await entry;
      const headers = securityHeaders(type, "no-cache");
      headers.set("etag", etag);
      if (request.headers.get("if-none-match") === etag) return new Response(null, { status: 304, headers });
      return new Response(request.method === "HEAD" ? null : (body as Uint8Array<ArrayBuffer>), { status: 200, headers });
    },
  };
}
