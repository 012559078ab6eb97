/**
 * The owner API (api.ts's route table): JSON over HTTP with `Authorization: Bearer
 * OWNER_TOKEN`, used by the CLI and scripts. Errors have the §2 shape.
 */
import { timingSafeEqual, createHash } from "node:crypto";
import type { PmServer, SettingsChange } from "../api.js";
import { PmError, errorResponse, jsonResponse } from "../errors.js";
import { bearerToken } from "@indiepm/protocol";
import { BODY_LIMITS } from "../http/body-limits.js";
import { readLimited } from "../http/read-body.js";
import type { SendInput } from "../types.js";

function sameSecret(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}

/**
 * A list page as the owner API answers it: the array, and when more follow a `Link`
 * header to the next page (RFC 8288 `rel="next"`, a reference relative to this request:
 * its query with `before` set to the cursor).
 */
function pageResponse(url: URL, page: { items: unknown[]; next?: string }): Response {
  if (page.next === undefined) return jsonResponse(page.items);
  const params = new URLSearchParams(url.searchParams);
  params.set("before", page.next);
  return jsonResponse(page.items, 200, { link: `<?${params}>; rel="next"` });
}

async function readJson(request: Request): Promise<object> {
  const body = await readLimited(request, BODY_LIMITS.ownerApi);
  let input: unknown;
  try {
    input = JSON.parse(Buffer.from(body).toString("utf8"));
  } catch (cause) {
    throw new PmError("invalid_request", "The body is not JSON.", { cause });
  }
  if (!input || typeof input !== "object" || Array.isArray(input)) throw new PmError("invalid_request", "The body must be a JSON object.");
  return input;
}

export async function handleOwnerApi(server: PmServer, ownerToken: string | undefined, request: Request, path: string): Promise<Response> {
  try {
    const presented = bearerToken(request.headers.get("authorization"));
    if (!ownerToken || !presented || !sameSecret(presented, ownerToken)) {
      throw new PmError("invalid_token", "The owner API needs Authorization: Bearer with this server's owner token.");
    }
    const url = new URL(request.url);
    const method = request.method.toUpperCase();
    const query = {
      ...(url.searchParams.get("site") ? { site: url.searchParams.get("site")! } : {}),
      ...(url.searchParams.get("limit") ? { limit: Number(url.searchParams.get("limit")) || 100 } : {}),
      ...(url.searchParams.get("before") ? { before: url.searchParams.get("before")! } : {}),
    };
    if (path === "/api/inbox" && method === "GET") return pageResponse(url, await server.inboxPage(query));
    if (path === "/api/outbox" && method === "GET") return pageResponse(url, await server.outboxPage(query));
    if (path === "/api/messages" && method === "POST") {
      const input = (await readJson(request)) as SendInput;
      // Recipients checked first (owner/recipients.ts): one that takes no private messages is a 400 naming it.
      const sent = await server.send(input, { checkRecipients: true });
      return jsonResponse({ message: sent.message, deliveries: sent.deliveries }, 202);
    }
    if (path === "/api/tokens" && method === "GET") return jsonResponse(await server.tokens(query.site ? { site: query.site } : {}));
    if (path === "/api/settings") {
      const site = url.searchParams.get("site") ?? (server.sites.length === 1 ? server.sites[0]! : "");
      if (method === "GET") return jsonResponse(await server.settings(site));
      if (method === "PATCH" || method === "POST") return jsonResponse(await server.updateSettings(site, (await readJson(request)) as SettingsChange));
    }
    if (path === "/api/conversations" && method === "GET") {
      const q = url.searchParams.get("q");
      return pageResponse(url, await server.conversationsPage({ ...query, ...(q ? { q } : {}) }));
    }
    const conversation = /^\/api\/conversations\/([^/]+)$/.exec(path);
    if (conversation && method === "GET") {
      const { site: _site, ...paging } = query;
      const thread = await server.thread(decodeURIComponent(conversation[1]!), paging);
      if (!thread) throw new PmError("unknown_message", "No such conversation is held here.");
      if (thread.next === undefined) return jsonResponse(thread);
      const params = new URLSearchParams(url.searchParams);
      params.set("before", thread.next);
      return jsonResponse(thread, 200, { link: `<?${params}>; rel="next"` });
    }
    if (path === "/api/people" && method === "GET") return pageResponse(url, await server.chatsPage(query));
    const person = /^\/api\/people\/([^/]+)$/.exec(path);
    if (person && method === "GET") {
      const { site: _site, ...paging } = query;
      const chat = await server.chat(decodeURIComponent(person[1]!), paging);
      if (!chat) throw new PmError("unknown_message", "No such chat is held here.");
      if (chat.next === undefined) return jsonResponse(chat);
      const params = new URLSearchParams(url.searchParams);
      params.set("before", chat.next);
      return jsonResponse(chat, 200, { link: `<?${params}>; rel="next"` });
    }
    if (path === "/api/profiles" && method === "GET") return jsonResponse(await server.people(url.searchParams.getAll("site")));
    const avatar = /^\/api\/avatars\/([^/]+)$/.exec(path);
    if (avatar && method === "GET") {
      const image = await server.avatar(decodeURIComponent(avatar[1]!));
      if (!image) throw new PmError("invalid_request", "No such photo is kept here (unknown, or replaced since).");
      return new Response(new Uint8Array(image.body), {
        headers: {
          "content-type": image.type,
          "x-content-type-options": "nosniff",
          "cache-control": "private, max-age=2592000, immutable",
          etag: `"${image.hash}"`,
        },
      });
    }
    if (path === "/api/export" && method === "GET") return jsonResponse(await server.exportAll(query.site ? { site: query.site } : {}));
    if (path === "/api/deliveries" && method === "GET") {
      const state = url.searchParams.get("state");
      if (state !== null && state !== "failed" && state !== "stuck") throw new PmError("invalid_request", 'state must be "failed" or "stuck".');
      return jsonResponse(
        await server.deliveryProblems({
          ...(query.site ? { site: query.site } : {}),
          ...(query.limit ? { limit: query.limit } : {}),
          ...(state ? { state } : {}),
        }),
      );
    }
    if (path === "/api/deliveries/count" && method === "GET") return jsonResponse(await server.deliveryProblemCounts(query.site ? { site: query.site } : {}));
    const delivery = /^\/api\/deliveries\/([^/]+)\/(retry|cancel)$/.exec(path);
    if (delivery && method === "POST") {
      const id = decodeURIComponent(delivery[1]!);
      const site = query.site ? { site: query.site } : {};
      const done = delivery[2] === "retry" ? await server.retryDelivery(id, site) : await server.cancelDelivery(id, site);
      if (!done) throw new PmError("unknown_message", `No delivery ${id} that can be ${delivery[2] === "retry" ? "retried" : "cancelled"} is held here.`);
      return jsonResponse(done);
    }
    const token = /^\/api\/tokens\/([^/]+)$/.exec(path);
    if (token && method === "DELETE") {
      if (!(await server.revokeToken(decodeURIComponent(token[1]!)))) throw new PmError("invalid_request", "No standing token has that id.");
      return jsonResponse({ revoked: true });
    }
    const one = /^\/api\/messages\/(.+)$/.exec(path);
    if (one) {
      const id = decodeURIComponent(one[1]!);
      if (method === "GET") {
        const found = await server.getMessage(id);
        if (!found.sent && found.received.length === 0) throw new PmError("unknown_message", `No message ${id} is held here.`);
        return jsonResponse(found);
      }
      if (method === "DELETE") {
        const sender = url.searchParams.get("sender");
        const deleted = await server.deleteMessage(id, { ...(query.site ? { site: query.site } : {}), ...(sender ? { sender } : {}) });
        if (deleted === 0) throw new PmError("unknown_message", `No message ${id} is held here.`);
        return jsonResponse({ deleted });
      }
    }
    return jsonResponse({ error: "invalid_request", error_description: `No owner API route ${method} ${path}.` }, path.startsWith("/api/") ? 404 : 405);
  } catch (error) {
    return errorResponse(error);
  }
}
