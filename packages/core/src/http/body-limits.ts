/**
 * The one table of request-body limits, by the kind of route that reads the body. Every
 * reader takes its number from here: node-http's `readBody` and the Express routers (before
 * the route is known: `MAX_REQUEST_BODY_BYTES`), the federation endpoint and the owner API
 * (`readLimited`, http/read-body.ts), the web inbox's forms.
 */
import { MAX_BODY_BYTES } from "@indiepm/protocol";

export const BODY_LIMITS = Object.freeze({
  /** `POST /`, the federation endpoint: PROTOCOL.md §2, 256 KiB (`createPmServer`'s `maxBodyBytes` may lower or raise it). */
  federation: MAX_BODY_BYTES,
  /** The owner API's JSON (`POST /api/messages`, `PATCH /api/settings`): a send's 64 KiB of text and its HTML, escaped. */
  ownerApi: 256 * 1024,
  /** The web inbox's forms (`@indiepm/web`): a message's 64 KiB of text, its HTML, and room for the rest. */
  webForm: 240 * 1024,
} as const);

export type BodyLimitKind = keyof typeof BODY_LIMITS;

/**
 * What a transport (node-http, Express) reads before it knows the route: the largest limit
 * of the table, so every route's own limit is the one that refuses.
 */
export const MAX_REQUEST_BODY_BYTES: number = Math.max(...Object.values(BODY_LIMITS));
