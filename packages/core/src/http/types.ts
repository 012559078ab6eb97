/**
 * The outbound HTTP client every fetch and POST goes through (PROTOCOL.md §6). The
 * engine depends only on this interface; `createHttpClient` is the real one (undici with
 * an address-checking connector), tests may wrap it to count or log requests.
 */

export interface HttpGetOptions {
  /** Most bytes of body read (§1: 1 MiB); the rest is not read. */
  maxBytes?: number;
  /** Most redirects followed (§1: 5). */
  maxRedirects?: number;
  /** Time for the whole exchange, redirects included (§1: 5 s). */
  timeoutMs?: number;
  headers?: Record<string, string>;
  /**
   * Streaming consumers (§1 discovery "MAY stop at the first match"): called with each
   * chunk of body as it arrives (within `maxBytes`) and the response so far; when it
   * returns true the client stops reading and cancels the body. Not called for bodies of
   * redirects.
   */
  stopWhen?: (chunk: Uint8Array, response: { url: string; status: number; headers: Headers }) => boolean;
  /** The caller's abort (a job's lease, protocol/jobs/queue.ts): when it fires the request is cut and its `reason` is thrown as it is. */
  signal?: AbortSignal;
}

export interface HttpPostOptions {
  headers?: Record<string, string>;
  /** The caller's abort (a job's lease, protocol/jobs/queue.ts): when it fires the request is cut and its `reason` is thrown as it is. */
  signal?: AbortSignal;
  /** §6: 10 s for a POST's answer. */
  timeoutMs?: number;
  /** §6: 64 KiB of answer read. */
  maxBytes?: number;
}

/** One answer on the way to a page: the URL asked and the status it answered (a 3xx for a redirect). */
export interface RedirectHop {
  url: string;
  status: number;
}

/** A fetched page: the final URL after redirects, its status, headers and (limited) body. */
export interface FetchedPage {
  url: string;
  status: number;
  headers: Headers;
  /** Body bytes read, at most `maxBytes`. */
  body: Uint8Array;
  /** True when the body was longer than `maxBytes` and was cut. */
  truncated: boolean;
  /** The URLs visited, the first one included. */
  redirects: string[];
  /**
   * Every answer in order, each redirect and then the final one (§6 Identity needs the
   * redirect statuses). `createHttpClient` always fills it; a page without it is treated
   * as if every redirect in `redirects` had been temporary.
   */
  hops?: RedirectHop[];
}

/** A POST's answer. `json` is the parsed body when it was JSON, else `undefined`. */
export interface PostAnswer {
  url: string;
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

export interface HttpClient {
  /** §1: GET following redirects (each hop checked by §6), with time and size limits. */
  get(url: string, options?: HttpGetOptions): Promise<FetchedPage>;
  /** §2: POST an `application/x-www-form-urlencoded` body; redirects are not followed. */
  postForm(url: string, form: URLSearchParams, options?: HttpPostOptions): Promise<PostAnswer>;
  /**
   * POST a JSON document (the owner's webhook); limits and checks as `postForm`.
   * Optional so that clients written before it still fit; without it webhooks fail.
   */
  postJson?(url: string, body: unknown, options?: HttpPostJsonOptions): Promise<PostAnswer>;
}

/** A JSON POST's options: a POST's, and the body's media type when it is a JSON type other than `application/json` (Micropub's `application/jf2+json`). */
export interface HttpPostJsonOptions extends HttpPostOptions {
  contentType?: string;
}
