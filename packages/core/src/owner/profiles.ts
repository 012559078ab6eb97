/**
 * Who the owner corresponds with, as people rather than hosts (issue 12): each
 * correspondent's representative h-card (name, photo) read from their site through the
 * server's guarded client (http/client.ts: §6 address checks on every hop, time and
 * size limits), parsed by a microformats2 parser (`microformats-parser`), kept in the
 * store (`profiles`, one document per correspondent site) and refreshed now and then.
 *
 * The photo is fetched by the server and kept (`avatars`): the owner's browser shows it
 * from the inbox's own origin, never from the correspondent's site, for a remote image
 * loaded when a message is read would tell its host that it was (a read receipt). Only
 * PNG, JPEG, GIF and WebP, told by their first bytes (never SVG, which can carry script),
 * at most `PROFILE_LIMITS.photoBytes`.
 *
 * Reading never waits for a fetch: `people()` answers from the store and queues a read of
 * a profile never read, a few at a time, in the background. A profile is read again (a
 * day old, an hour after a failure) when the server deals with that site anyway — it
 * discovers its endpoint to send to it or to check a message from it (`noteContact`) —
 * never because the owner opened a page: a fetch timed by the owner's reading would
 * tell the site when its messages were read.
 */
import { createHash } from "node:crypto";
import { mf2 } from "microformats-parser";
import type { AvatarImage, Logger, Person } from "../api.js";
import { identityRedirectRefusal } from "../discovery/identity.js";
import type { HttpClient } from "../http/types.js";
import { keyOf } from "../secrets.js";
import type { Store } from "../store/types.js";

/** Limits of profiles, in one place. */
export const PROFILE_LIMITS = {
  /** Longest name kept, in characters (a longer one is cut, with "…"). */
  nameChars: 100,
  /** Most bytes of a site's page read for its h-card. */
  pageBytes: 512 * 1024,
  /** Largest photo kept, bytes; a larger one is refused, not cut. */
  photoBytes: 256 * 1024,
  /** A profile fetched longer ago than this is fetched again when next shown. */
  freshMs: 24 * 60 * 60_000,
  /** A site whose page could not be read is tried again after this long. */
  retryMs: 60 * 60_000,
  /** Profiles fetched at once, per server. */
  concurrency: 2,
  /** Refreshes waiting at most; more are dropped (asked again when next shown). */
  queued: 200,
  /** Sites `noteContact` remembers having checked (in memory, the oldest forgotten first). */
  contactsRemembered: 10_000,
  /** Sites one `people()` call reads. */
  sitesPerCall: 500,
} as const;

/** `Accept` of the read of a site's page for its h-card. */
export const PROFILE_ACCEPT = "text/html, application/xhtml+xml;q=0.9";

/** The image types an avatar may have, by their magic bytes. */
export type AvatarType = AvatarImage["type"];

/** A correspondent's profile as stored. `_id = profileKey(site)`. */
export interface ProfileDoc {
  _id: string;
  site: string;
  name?: string;
  /** The photo URL their h-card named (absolute http(s)). */
  photoUrl?: string;
  /** Hash (hex, 16) of the photo kept in `avatars` under the same `_id`. */
  avatar?: string;
  /** When the page was last asked, ms. */
  checkedAt: number;
  /** Why the last try failed, for the curious (never shown as a headline). */
  error?: string;
}

/** A kept photo. `_id = profileKey(site)`, like its profile. */
export interface AvatarDoc {
  _id: string;
  site: string;
  type: AvatarType;
  /** The image, base64. */
  data: string;
  hash: string;
}

/** What the h-card gave, cleaned. */
export interface HCardProfile {
  name?: string;
  photo?: string;
}

/** Pure: the store key of a correspondent's profile and avatar. */
export function profileKey(site: string): string {
  return keyOf("profile", site);
}

// The parser's shapes (microformats-parser exports the function, not its types).
type Parsed = ReturnType<typeof mf2>;
type Item = Parsed["items"][number];
type Property = Item["properties"][string][number];

/** URLs compared as the web does: parsed and serialized (`https://a.example` = `https://a.example/`). */
function sameUrl(a: unknown, b: string): boolean {
  return typeof a === "string" && URL.canParse(a) && URL.canParse(b) && new URL(a).href === new URL(b).href;
}

function isHCard(item: Item): boolean {
  return item.type?.includes("h-card") ?? false;
}

/** A property's URL or text value (`u-photo` may be `{value, alt}`). */
function propertyText(property: Property | undefined): string | undefined {
  if (typeof property === "string") return property;
  if (property && typeof property === "object" && "value" in property && typeof property.value === "string") return property.value;
  return undefined;
}

/**
 * Pure: the page's representative h-card (https://microformats.org/wiki/representative-h-card-parsing),
 * among its top-level h-cards and the h-cards nested in top-level items without being a
 * property of them (an h-card as a post's `author` describes that post, not the page):
 * 1. the first with a `uid` and a `url` both equal to the page URL;
 * 2. else the first with a `url` that the page also links with `rel=me`;
 * 3. else the only h-card, when there is one, if its `url` is the page URL.
 * `pageUrls`: the URL asked and the one answered after redirects.
 */
export function representativeHCard(parsed: Parsed, pageUrls: readonly string[]): Item | undefined {
  const cards: Item[] = [];
  for (const item of parsed.items) {
    if (isHCard(item)) cards.push(item);
    for (const child of item.children ?? []) if (isHCard(child)) cards.push(child);
  }
  const urls = (card: Item) => (card.properties.url ?? []).map(propertyText);
  const isPage = (value: unknown) => pageUrls.some((page) => sameUrl(value, page));
  const byUid = cards.find((card) => (card.properties.uid ?? []).map(propertyText).some(isPage) && urls(card).some(isPage));
  if (byUid) return byUid;
  const me = parsed.rels.me ?? [];
  const byRelMe = cards.find((card) => urls(card).some((url) => me.some((m) => sameUrl(url, m))));
  if (byRelMe) return byRelMe;
  if (cards.length === 1 && urls(cards[0]!).some(isPage)) return cards[0];
  return undefined;
}

/** Pure: a name fit to show — one line, no control or bidi-override characters, at most `nameChars`. */
export function cleanName(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const text = raw
    .replace(/[\p{Cc}\p{Cf}]/gu, " ")
    .replace(/\s+/g, " ")
    .trim();
  if (text === "") return undefined;
  const chars = [...text];
  return chars.length <= PROFILE_LIMITS.nameChars ? text : `${chars.slice(0, PROFILE_LIMITS.nameChars - 1).join("")}…`;
}

/** Pure: an absolute http(s) photo URL, or nothing (`javascript:`, `data:` and the like are dropped). */
export function cleanPhotoUrl(raw: string | undefined): string | undefined {
  if (raw === undefined || !URL.canParse(raw)) return undefined;
  const url = new URL(raw);
  return url.protocol === "https:" || url.protocol === "http:" ? url.href : undefined;
}

/** Pure: the name and photo of a page's representative h-card. */
export function profileFromPage(pageHtml: string, pageUrls: readonly string[]): HCardProfile {
  const parsed = mf2(pageHtml, { baseUrl: pageUrls.at(-1)! });
  const card = representativeHCard(parsed, pageUrls);
  if (!card) return {};
  const name = cleanName(propertyText(card.properties.name?.[0]));
  const photo = cleanPhotoUrl(propertyText(card.properties.photo?.[0]));
  return { ...(name ? { name } : {}), ...(photo ? { photo } : {}) };
}

/** Pure: the type of an image by its first bytes, when it is one an avatar may be. */
export function imageType(bytes: Uint8Array): AvatarType | undefined {
  const starts = (...sig: number[]) => sig.every((b, i) => bytes[i] === b);
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return "image/png";
  if (starts(0xff, 0xd8, 0xff)) return "image/jpeg";
  if (starts(0x47, 0x49, 0x46, 0x38) && (bytes[4] === 0x37 || bytes[4] === 0x39) && bytes[5] === 0x61) return "image/gif";
  if (starts(0x52, 0x49, 0x46, 0x46) && bytes[8] === 0x57 && bytes[9] === 0x45 && bytes[10] === 0x42 && bytes[11] === 0x50) return "image/webp";
  return undefined;
}

export interface ProfilesContext {
  store: Store;
  http: HttpClient;
  now: () => number;
  log: Logger;
}

/** Why a photo is refused, in words. */
class PhotoRefused extends Error {}

/**
 * The profiles of one server: reads from the store, refreshes in the background (at most
 * `concurrency` fetches at once, one per site at a time).
 */
export class Profiles {
  private readonly running = new Map<string, Promise<ProfileDoc>>();
  private readonly waiting: string[] = [];
  /** Sites `noteContact` saw lately (in this process), and when: the store is asked about each at most once an hour. */
  private readonly contacted = new Map<string, number>();
  private active = 0;
  private closed = false;

  constructor(private readonly ctx: ProfilesContext) {}

  /** The people behind these sites, from the store (one read); queues a read of those never read (unless `read: false`). Never fetches before answering. */
  async people(sites: Iterable<string>, options: { read?: boolean } = {}): Promise<Person[]> {
    const unique = [...new Set(sites)].slice(0, PROFILE_LIMITS.sitesPerCall);
    const ids = unique.map(profileKey);
    const { store } = this.ctx;
    const docs = store.getMany ? await store.getMany<ProfileDoc>("profiles", ids) : await Promise.all(ids.map((id) => store.get<ProfileDoc>("profiles", id)));
    return unique.map((site, i) => {
      const doc = docs[i] ?? null;
      if (!doc && options.read !== false) this.schedule(site);
      return personOf(site, doc);
    });
  }

  /** The server deals with `site` (§1 discovery of it): its profile is read again in the background if it is old. Costs nothing on the way. */
  noteContact(site: string): void {
    const now = this.ctx.now();
    const last = this.contacted.get(site);
    if (last !== undefined && now - last < PROFILE_LIMITS.retryMs) return;
    this.contacted.delete(site);
    this.contacted.set(site, now);
    if (this.contacted.size > PROFILE_LIMITS.contactsRemembered) this.contacted.delete(this.contacted.keys().next().value!);
    this.schedule(site);
  }

  /** Fetches these sites' profiles now (one fetch per site at a time, shared with a refresh under way), then answers as `people`. */
  async refresh(sites: Iterable<string>): Promise<Person[]> {
    const unique = [...new Set(sites)].slice(0, PROFILE_LIMITS.sitesPerCall);
    return Promise.all(unique.map(async (site) => personOf(site, await this.fetchOnce(site, true))));
  }

  /** The kept photo of `id` (`Person.avatar`: the profile key, a hyphen, the hash: one URL path segment), or `null`. */
  async avatar(id: string): Promise<AvatarImage | null> {
    const [, key, hash] = /^([\w-]+)-([0-9a-f]{16})$/.exec(id) ?? [];
    if (!key || !hash) return null;
    const doc = await this.ctx.store.get<AvatarDoc>("avatars", key);
    if (!doc || doc.hash !== hash) return null;
    return { type: doc.type, body: Buffer.from(doc.data, "base64"), hash: doc.hash };
  }

  /** Stops starting refreshes and waits for those under way (before the store closes). */
  async close(): Promise<void> {
    this.closed = true;
    this.waiting.length = 0;
    await Promise.allSettled([...this.running.values()]);
  }

  /** Resolves when no refresh is running or waiting (tests). */
  async settled(): Promise<void> {
    while (this.running.size > 0 || this.waiting.length > 0) await Promise.allSettled([...this.running.values()]);
  }

  private schedule(site: string): void {
    if (this.closed || this.running.has(site) || this.waiting.includes(site) || this.waiting.length >= PROFILE_LIMITS.queued) return;
    this.waiting.push(site);
    this.pump();
  }

  private pump(): void {
    while (!this.closed && this.active < PROFILE_LIMITS.concurrency && this.waiting.length > 0) {
      const site = this.waiting.shift()!;
      if (this.running.has(site)) continue;
      this.active++;
      void this.fetchOnce(site)
        .catch(() => undefined)
        .finally(() => {
          this.active--;
          this.pump();
        });
    }
  }

  /** `force`: fetch even when the stored profile is recent (else only when missing or old). */
  private fetchOnce(site: string, force = false): Promise<ProfileDoc> {
    const current = this.running.get(site);
    if (current) return current;
    const work = this.fetchProfile(site, force).finally(() => this.running.delete(site));
    this.running.set(site, work);
    return work;
  }

  /** Reads the site's page, its h-card and photo, and stores what it found (or why it could not). */
  private async fetchProfile(site: string, force: boolean): Promise<ProfileDoc> {
    const { store, http, now, log } = this.ctx;
    const _id = profileKey(site);
    const before = await store.get<ProfileDoc>("profiles", _id);
    if (!force && before && now() - before.checkedAt <= (before.error ? PROFILE_LIMITS.retryMs : PROFILE_LIMITS.freshMs)) return before;
    let found: HCardProfile;
    try {
      // An h-card is only ever in HTML: the read asks for nothing else (discovery, which takes
      // any answer for its Link header, asks with GET_ACCEPT).
      const page = await http.get(site, { maxBytes: PROFILE_LIMITS.pageBytes, headers: { accept: PROFILE_ACCEPT } });
      if (page.status !== 200) throw new Error(`${site} answered ${page.status}`);
      // §6 Identity, as for discovery: a page behind a temporary redirect to another origin
      // (an open redirect on the site) does not speak for the site; its h-card is not theirs.
      const moved = page.hops ? identityRedirectRefusal(page.hops) : page.redirects.length > 1 ? `${site} redirected to ${page.url}` : undefined;
      if (moved) throw new Error(moved);
      found = profileFromPage(new TextDecoder().decode(page.body), [site, page.url]);
    } catch (error) {
      // Keep what was known: a site down for an hour has not changed its name.
      const doc: ProfileDoc = { ...(before ?? { _id, site }), checkedAt: now(), error: errorText(error) };
      await store.put("profiles", doc);
      log.info("profile not fetched", { site, error: doc.error });
      return doc;
    }
    const doc: ProfileDoc = { _id, site, checkedAt: now(), ...(found.name ? { name: found.name } : {}) };
    if (found.photo) {
      doc.photoUrl = found.photo;
      try {
        doc.avatar = await this.keepPhoto(site, found.photo);
      } catch (error) {
        doc.error = `photo: ${errorText(error)}`;
        // The same photo as before, failing for now: keep the copy already held.
        if (before?.avatar && before.photoUrl === found.photo) doc.avatar = before.avatar;
        log.info("profile photo not kept", { site, photo: found.photo, error: doc.error });
      }
    }
    if (!doc.avatar && before?.avatar) await store.remove("avatars", _id);
    await store.put("profiles", doc);
    return doc;
  }

  private async keepPhoto(site: string, url: string): Promise<string> {
    const limit = PROFILE_LIMITS.photoBytes;
    const answer = await this.ctx.http.get(url, { maxBytes: limit, headers: { accept: "image/png, image/jpeg, image/gif, image/webp" } });
    if (answer.status !== 200) throw new PhotoRefused(`${url} answered ${answer.status}`);
    if (answer.truncated) throw new PhotoRefused(`${url} is larger than ${limit / 1024} KiB`);
    const type = imageType(answer.body);
    if (!type) throw new PhotoRefused(`${url} is not a PNG, JPEG, GIF or WebP image`);
    const hash = createHash("sha256").update(answer.body).digest("hex").slice(0, 16);
    const doc: AvatarDoc = { _id: profileKey(site), site, type, data: Buffer.from(answer.body).toString("base64"), hash };
    await this.ctx.store.put("avatars", doc);
    return hash;
  }
}

function personOf(site: string, doc: ProfileDoc | null): Person {
  return {
    site,
    ...(doc?.name ? { name: doc.name } : {}),
    ...(doc?.avatar ? { avatar: `${doc._id}-${doc.avatar}` } : {}),
  };
}

function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 300);
}
