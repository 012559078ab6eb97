/**
 * Correspondents as people (issue 12): the name and photo of each one's h-card, kept by
 * the engine (core owner/profiles.ts), shown wherever the inbox names someone. One helper
 * for all of them (`personLabel`), so every page names a person the same way: the name
 * with the site beside it (a name is only what a page claims; the site is who it is),
 * or the site alone until the name is known.
 *
 * Photos are served by the inbox itself (`GET avatar/<id>`): the browser never asks the
 * correspondent's site for anything, so reading a message tells them nothing. Without a
 * photo, initials on a colour of the site's own (CSS only).
 */
import { createHash } from "node:crypto";
import type { Person, PmServer } from "@indiepm/core";
import { html, type Html } from "./html.js";
import { siteLabel, type Frame } from "./pages.js";
import { securityHeaders } from "./security.js";

/** How a page shows one correspondent. */
export interface PersonView {
  /** Their site URL. */
  site: string;
  /** From their h-card, when it has been read. */
  name?: string;
  /** The photo's URL on the inbox's own origin, when one is kept. */
  photo?: string;
  /** The name, else the site as `siteLabel` writes it. */
  label: string;
  /** One or two letters for the avatar without a photo. */
  initials: string;
  /** 0–7: the initials avatar's colour, the same for a site on every page. */
  hue: number;
}

/** Pure: one correspondent as the page shows them, from what the handler loaded into `frame.people`. */
export function personView(frame: Frame, site: string): PersonView {
  const person = frame.people?.get(site);
  const host = siteLabel(site);
  const name = person?.name;
  return {
    site,
    ...(name ? { name } : {}),
    ...(person?.avatar ? { photo: `${frame.base}avatar/${encodeURIComponent(person.avatar)}` } : {}),
    label: name ?? host,
    initials: initialsOf(name ?? host),
    hue: createHash("sha256").update(site).digest()[0]! % 8,
  };
}

/** Pure: "BE" for "Bob Example", "B" for "bob.example", the first letter or digit otherwise. */
export function initialsOf(text: string): string {
  const words = text.match(/[\p{L}\p{N}]+/gu) ?? [];
  if (words.length === 0) return "?";
  const first = (w: string) => [...w][0]!.toLocaleUpperCase();
  // A host (dots, digits, ports) gives one letter; a name its first and last word's.
  if (/[.:/]/.test(text) || words.length === 1) return first(words[0]!);
  return first(words[0]!) + first(words.at(-1)!);
}

/** The avatar alone (decorative: the name is always written beside it). */
export function avatarHtml(frame: Frame, site: string, size: "small" | "large" = "small"): Html {
  const p = personView(frame, site);
  return p.photo
    ? html`<img class="avatar ${size}" src="${p.photo}" alt="" width="${size === "small" ? 24 : 40}" height="${size === "small" ? 24 : 40}" loading="lazy">`
    : html`<span class="avatar ${size} initials hue-${p.hue}" aria-hidden="true">${p.initials}</span>`;
}

/**
 * A correspondent where a page names them: avatar, name, and the site beside the name
 * (the full URL in a title). `avatar: false` for running text ("To Bob Example").
 */
export function personLabel(frame: Frame, site: string, options: { avatar?: boolean } = {}): Html {
  const p = personView(frame, site);
  return html`<span class="person" title="${site}">${options.avatar === false ? "" : avatarHtml(frame, site)}<span class="name">${p.label}</span>${
    p.name ? html` <span class="host">${siteLabel(site)}</span>` : ""
  }</span>`;
}

/** Several correspondents, comma-separated; "yourself" for none. */
export function peopleLabel(frame: Frame, sites: readonly string[], options: { avatar?: boolean } = {}): Html {
  if (sites.length === 0) return html`<span>yourself</span>`;
  return html`${sites.map((s, i) => html`${i > 0 ? ", " : ""}${personLabel(frame, s, options)}`)}`;
}

/**
 * The To field's suggestions (`<datalist>`, which needs no script): every person in
 * `frame.people`, the site as the value and the name as its label, names first.
 */
export function peopleDatalist(frame: Frame, id: string): Html {
  if (!frame.people?.size) return html``;
  const views = [...frame.people.keys()].filter((s) => s !== frame.site).map((s) => personView(frame, s));
  views.sort((a, b) => Number(!a.name) - Number(!b.name) || a.label.localeCompare(b.label));
  return html`<datalist id="${id}">${views.map((p) => html`<option value="${p.site}">${p.name ? `${p.name} (${siteLabel(p.site)})` : siteLabel(p.site)}</option>`)}</datalist>`;
}

/**
 * In a handler, before rendering: `frame` with the people of `sites` (one store read;
 * the engine refreshes missing or old profiles in the background, never making the page
 * wait for a correspondent's site). `read: false`: only what is kept, nothing fetched
 * (sites the owner blocked).
 */
export async function withPeople(pm: PmServer, frame: Frame, sites: Iterable<string>, options: { read?: boolean } = {}): Promise<Frame> {
  const people = new Map<string, Person>(frame.people ?? []);
  const wanted = [...new Set(sites)].filter((s) => s !== frame.site && !people.has(s));
  if (wanted.length > 0) for (const person of await pm.people(wanted, options)) people.set(person.site, person);
  return { ...frame, people };
}

/** The people To may suggest: the site's contacts (added, and everyone it wrote to) and those of its latest conversations. */
export async function withContacts(pm: PmServer, frame: Frame): Promise<Frame> {
  if (!frame.site) return frame;
  const [settings, latest] = await Promise.all([pm.settings(frame.site), pm.conversationsPage({ site: frame.site, limit: 100 })]);
  return withPeople(pm, frame, [...settings.contacts, ...settings.wroteTo, ...latest.items.flatMap((c) => c.participants)]);
}

/**
 * `GET avatar/<id>`: a kept photo, from the inbox's origin (CSP `img-src 'self'`), typed by
 * its bytes, never sniffed by the browser (`nosniff`). The id changes with the image, so
 * the browser may keep it long; 404 for an id replaced since.
 */
export async function avatarResponse(pm: PmServer, request: Request, id: string): Promise<Response> {
  const image = await pm.avatar(id);
  if (!image) {
    const headers = securityHeaders("text/plain; charset=utf-8");
    return new Response("No such photo.", { status: 404, headers });
  }
  const headers = securityHeaders(image.type, "private, max-age=2592000, immutable");
  const etag = `"${image.hash}"`;
  headers.set("etag", etag);
  if (request.headers.get("if-none-match") === etag) return new Response(null, { status: 304, headers });
  headers.set("content-length", String(image.body.byteLength));
  return new Response(request.method === "HEAD" ? null : new Uint8Array(image.body), { status: 200, headers });
}
