/**
 * The Micropub endpoint of a DM profile (issue 13; W3C Micropub): `GET|POST
 * <inbox>/me/<slug>/micropub`, one per site, so the token is checked at that site's own
 * IndieAuth (tokens.ts). A create of `h=entry` (post.ts) becomes a private message sent
 * exactly as the web compose sends one — `PmServer.send` with the recipients looked up
 * first — or a reply as the web reply answers a thread; anything else is refused with
 * Micropub's error JSON (§3.8) and a sentence, and nothing is stored or sent.
 *
 * Bearer tokens only (the `Authorization` header, or a form's `access_token`, §5.2 of
 * OAuth 2.0 Bearer Token Usage as Micropub allows): no cookies, no CSRF token — this is an
 * API for apps, reached before the inbox's sign-in. Every request from a client address is
 * counted before its token is checked (a check may ask the site's token endpoint); every
 * post of a site after.
 */
import {
  clientKeyOf,
  conversationId,
  parseRecipientList,
  PmError,
  RecipientsRefusedError,
  TooManyRecipientsError,
  type PmServer,
  type SendInput,
  type ThreadItem,
} from "@indiepm/core";
import type { ResolvedInboxOptions } from "../options.js";
import { replyTargets } from "../pages.js";
import { sendRefusalSentence } from "../pages/send.js";
import { securityHeaders } from "../security.js";
import { SharedSignInLimiter, SignInLimiter, type SignInLimit } from "../sign-in-guard.js";
import { MICROPUB_LIMITS, micropubConfig, syndicationTargets } from "./config.js";
import { parseMicropubPost, type MicropubCreate } from "./post.js";
import { siteOfSlug } from "./profile.js";
import type { TokenVerifier } from "./tokens.js";

/** The scope a Micropub app needs here: `create` (IndieAuth §5.4 scopes; Micropub §3.3). */
export const MICROPUB_SCOPE = "create";

/** Micropub's error codes (§3.8), and this endpoint's own two: a site it does not hold, too many requests. */
type MicropubError = "invalid_request" | "unauthorized" | "forbidden" | "insufficient_scope" | "temporarily_unavailable" | "not_found" | "rate_limited";

export interface MicropubEndpoint {
  get(request: Request, params: Record<string, string>, context: { clientAddress: string | undefined }): Promise<Response>;
  post(request: Request, params: Record<string, string>, context: { clientAddress: string | undefined }): Promise<Response>;
}

/** A Micropub JSON answer with the inbox's security headers. */
function answer(body: unknown, status: number, headers: Record<string, string> = {}): Response {
  const h = securityHeaders("application/json; charset=utf-8");
  for (const [k, v] of Object.entries(headers)) h.set(k, v);
  return new Response(JSON.stringify(body), { status, headers: h });
}

function refusal(error: MicropubError, description: string, status: number, headers: Record<string, string> = {}): Response {
  return answer({ error, error_description: description }, status, headers);
}

class Refused extends Error {
  constructor(readonly response: Response) {
    super("refused");
  }
}

const invalid = (description: string) => new Refused(refusal("invalid_request", description, 400));

/** The body, at most `limit` bytes: past it the stream is cancelled and nothing more is read. */
async function readBody(request: Request, limit: number): Promise<string | undefined> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > limit) return undefined;
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/** The token of an `Authorization: Bearer` header; `""` for another scheme, `undefined` for none. */
function headerToken(request: Request): string | undefined {
  const header = request.headers.get("authorization");
  if (header === null) return undefined;
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return m ? m[1]! : "";
}

export function createMicropubEndpoint(
  inbox: Pick<ResolvedInboxOptions, "pm" | "url" | "policy" | "logger">,
  verifier: TokenVerifier,
  now: () => number = Date.now,
): MicropubEndpoint {
  const { pm } = inbox;
  // Fixed one-minute windows per key (sign-in-guard.ts's), in the store when instances share it.
  const limiter = (perMinute: number): SignInLimit => (pm.shared ? new SharedSignInLimiter(perMinute, pm.shared) : new SignInLimiter(perMinute));
  const perClient = limiter(MICROPUB_LIMITS.requestsPerClientPerMinute);
  const perSite = limiter(MICROPUB_LIMITS.postsPerSitePerMinute);

  async function overLimit(limit: SignInLimit, key: string, what: string): Promise<void> {
    const wait = await limit.hit(`micropub ${key}`, now());
    if (wait !== undefined) {
      throw new Refused(refusal("rate_limited", `Too many ${what} a minute: try again in ${wait} seconds.`, 429, { "retry-after": String(wait) }));
    }
  }

  /** The site of the profile, counted against the client's limit. */
  async function siteFor(params: Record<string, string>, clientAddress: string | undefined): Promise<string> {
    const site = siteOfSlug(pm.sites, params.id ?? "");
    if (site === undefined)
      throw new Refused(refusal("not_found", "There is no Micropub endpoint at this address: check the DM profile URL in your inbox's Settings.", 404));
    // Keyed as every limit of this server (core clientKeyOf): an IPv6 client by its /64, clients of unknown address together.
    await overLimit(perClient, `client ${clientKeyOf(clientAddress ?? "")}`, "requests from this address");
    return site;
  }

  async function authorize(site: string, token: string | undefined): Promise<void> {
    const check = await verifier.verify(site, token || undefined, MICROPUB_SCOPE);
    if (!check.ok) {
      throw new Refused(refusal(check.error, check.description, check.status, check.status === 401 ? { "www-authenticate": 'Bearer realm="micropub"' } : {}));
    }
  }

  /** Runs a handler, turning a refusal into its answer and anything unexpected into Micropub's 500 JSON (logged). */
  async function guarded(run: () => Promise<Response>): Promise<Response> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof Refused) return error.response;
      inbox.logger?.error("micropub request failed", { error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
      return refusal("temporarily_unavailable", "The server failed to answer this request; the failure was logged. Try again in a moment.", 500);
    }
  }

  return {
    get: (request, params, { clientAddress }) =>
      guarded(async () => {
        const site = await siteFor(params, clientAddress);
        // The header only: a token in the query string would be kept in every log on the way (RFC 6750 §2.3).
        await authorize(site, headerToken(request));
        const query = new URL(request.url).searchParams;
        const q = query.get("q");
        if (q === "config") return answer(await micropubConfig(pm, site), 200);
        if (q === "syndicate-to") return answer({ "syndicate-to": await syndicationTargets(pm, site) }, 200);
        throw invalid(q === null ? "Ask with q=config or q=syndicate-to." : `This endpoint answers q=config and q=syndicate-to, not q=${q.slice(0, 40)}.`);
      }),

    post: (request, params, { clientAddress }) =>
      guarded(async () => {
        const site = await siteFor(params, clientAddress);
        const body = await readBody(request, MICROPUB_LIMITS.maxBodyBytes);
        if (body === undefined) {
          return refusal(
            "invalid_request",
            `The request is too large: a message holds at most 64 KiB of text (the body at most ${MICROPUB_LIMITS.maxBodyBytes / 1024} KiB).`,
            413,
          );
        }
        const parsed = parseMicropubPost(request.headers.get("content-type") ?? "", body);
        const header = headerToken(request);
        const formToken = parsed.ok ? parsed.accessToken : undefined;
        // RFC 6750 §2: one way of sending the token per request.
        if (header !== undefined && formToken !== undefined)
          throw invalid("Send the access token once: in the Authorization header or in access_token, not both.");
        await authorize(site, header ?? formToken);
        if (!parsed.ok) return refusal(parsed.refusal.error, parsed.refusal.description, parsed.refusal.status);
        await overLimit(perSite, `site ${site}`, "posts for this site");
        const input = await sendInput(site, parsed.create);
        return send(site, input.send, input.check);
      }),
  };

  /** What the post becomes: recipients named (contacts' uids, person tags, audience), or the people of the message it answers, or both. */
  async function sendInput(site: string, post: MicropubCreate): Promise<{ send: SendInput; check: boolean }> {
    const named: string[] = [];
    if (post.syndicateTo.length > 0) {
      const contacts = new Set((await syndicationTargets(pm, site)).map((t) => t.uid));
      for (const uid of post.syndicateTo) {
        if (!contacts.has(uid)) throw invalid(`“${uid.slice(0, 80)}” is not one of the destinations q=config lists (your contacts): pick one of those.`);
        named.push(uid);
      }
    }
    for (const url of post.people) named.push(recipientOf(url));
    const parent = post.inReplyTo === undefined ? undefined : await messageAnswered(site, post.inReplyTo);
    const replyTo = parent ? replyTargets(site, parent) : [];
    const to = [...new Set([...named, ...replyTo])].filter((s) => s !== site);
    if (to.length === 0) {
      throw invalid(
        "Nobody to send this to: pick someone in the syndication list (your contacts), tag a person by the URL of their site, or reply to a message of your inbox. Nothing was sent.",
      );
    }
    const subject = post.subject ?? (parent?.name && !/^re:/i.test(parent.name) ? `Re: ${parent.name}` : parent?.name);
    return {
      send: {
        from: site,
        to,
        content: post.content,
        ...(post.html !== undefined ? { html: post.html } : {}),
        ...(subject ? { subject } : {}),
        ...(parent ? { inReplyTo: parent.message } : {}),
        // A reply to a hidden group stays hidden (compose-keys.ts sendReply).
        ...(parent && named.length === 0 && parent.to === undefined && to.length > 1 ? { hideRecipients: true } : {}),
      },
      // As the web inbox: people typed or picked are looked up first; the people of a thread answered are not (compose-keys.ts sendReply says why).
      check: named.length > 0,
    };
  }

  /** A person named by the URL of their site (a person tag, `audience`): a site address, as the web compose's To takes it. */
  function recipientOf(url: string): string {
    try {
      const [site, ...more] = parseRecipientList(url, inbox.policy);
      if (site === undefined || more.length > 0) throw invalid(`“${url.slice(0, 80)}” is not the URL of one site.`);
      return site;
    } catch (error) {
      if (error instanceof PmError) throw invalid(error.message);
      throw error;
    }
  }

  /**
   * The message `inReplyTo` names, as the site holds it: a message ID it sent or received,
   * or the URL of one of its threads in the web inbox (the thread's latest message, as the
   * web reply answers). Anything else is refused: a private reply goes to people this
   * server knows, never to whoever a URL points at.
   */
  async function messageAnswered(site: string, inReplyTo: string): Promise<ThreadItem> {
    const threadPath = inReplyTo.startsWith(inbox.url.href) ? /^c\/([A-Za-z0-9_-]+)\/?$/.exec(inReplyTo.slice(inbox.url.href.length)) : null;
    if (threadPath) {
      const thread = await pm.thread(threadPath[1]!, { limit: 1 });
      const last = thread?.site === site ? thread.items.at(-1) : undefined;
      if (last) return last;
    } else {
      const found = await heldMessage(pm, site, inReplyTo);
      if (found) return found;
    }
    throw invalid(
      `in-reply-to names no message in your inbox (${inReplyTo.slice(0, 80)}): a private reply answers a message you sent or received. To write to someone, pick them in the syndication list instead.`,
    );
  }

  async function send(site: string, input: SendInput, check: boolean): Promise<Response> {
    let message: string;
    try {
      message = (await pm.send(input, { checkRecipients: check })).message;
    } catch (error) {
      if (error instanceof RecipientsRefusedError) throw invalid(`${error.refusals.map((r) => r.text).join(" ")} Nothing was sent.`);
      // The engine's recipient cap (core MAX_RECIPIENTS), kept before anyone is looked up.
      if (error instanceof TooManyRecipientsError) throw invalid(`${error.message} Nothing was sent.`);
      if (error instanceof PmError && error.code === "too_large") throw invalid(sendRefusalSentence(error));
      if (error instanceof PmError && error.code === "invalid_request") throw invalid(sendRefusalSentence(error));
      throw error;
    }
    const location = new URL(`c/${await threadOf(pm, site, message)}`, inbox.url).href;
    const h = securityHeaders("application/json; charset=utf-8");
    h.set("location", location);
    return new Response(JSON.stringify({ url: location }), { status: 201, headers: h });
  }
}

/** A message `site` sent or received, as a thread shows it; `undefined` when it holds none with that ID. */
async function heldMessage(pm: PmServer, site: string, id: string): Promise<ThreadItem | undefined> {
  if (id.length > 2048) return undefined;
  const { sent, received } = await pm.getMessage(id);
  if (sent && sent.sender === site) return { direction: "sent", ...sent, createdAt: sent.published };
  const mine = received.find((r) => r.recipient === site);
  return mine ? { direction: "received", ...mine } : undefined;
}

/** Most `in-reply-to` links followed up to a thread's first message. */
const WALK_MAX = 100;

/**
 * The conversation a message of `site` is in (PROTOCOL.md §5: threads follow `in-reply-to`
 * while the parent is held; the first one not held, or the first message, is the root), as
 * the inbox's `c/<id>` names it.
 */
async function threadOf(pm: PmServer, site: string, message: string): Promise<string> {
  let root = message;
  const seen = new Set([message]);
  for (let parent = (await heldMessage(pm, site, message))?.inReplyTo, steps = 0; parent !== undefined && steps < WALK_MAX; steps++) {
    if (seen.has(parent)) break;
    seen.add(parent);
    root = parent;
    parent = (await heldMessage(pm, site, parent))?.inReplyTo;
  }
  const id = conversationId(site, root);
  return (await pm.thread(id, { limit: 1 }))?.id ?? id;
}
