/**
 * A `Request` or `Response` whose body is whole in memory: what core's node bridge
 * (node-http.ts) makes of a request body it has read under its limit, and what every
 * answer built from a string or bytes is (the §2 JSON of `jsonResponse` and
 * `errorResponse`, pages).
 *
 * Undici makes a `ReadableStream` for every body given to `new Request` / `new Response`
 * and reads it back through that stream's reader; on Node 20 each stream is also made
 * transferable. For a `deliver` that was about half of what the bridge cost per request
 * (bench/postgres-delivery.js; BENCHMARKS.md). These are a `Request` and a `Response`
 * (`instanceof`, headers, status, every body method, `clone`) that make the stream only
 * when `body` is asked for, and hand their bytes to the bridge without one
 * (`wholeBody()`). The same idea as srvx's `NodeRequest` / `NodeResponse` (h3's server
 * layer) and @hono/node-server's lightweight Request and Response.
 *
 * Made for this server's own handlers and bridge: undici's internals (`fetch(request)`,
 * `new Request(request)`, `Response.prototype.text.call(…)`) read the native state, which
 * holds no body.
 */

/**
 * The one body of a `WholeRequest` or `WholeResponse`, and the Fetch standard's body
 * methods over it: used once; a read after that, or while `body` is locked to a reader,
 * is refused with the standard's TypeError.
 */
class HeldBody {
  readonly #bytes: Uint8Array<ArrayBuffer>;
  #used = false;
  #stream: ReadableStream<Uint8Array<ArrayBuffer>> | undefined;

  constructor(bytes: Uint8Array<ArrayBuffer>) {
    this.#bytes = bytes;
  }

  /** The body as a stream, made on first ask; reading it uses the body up. */
  get stream(): ReadableStream<Uint8Array<ArrayBuffer>> {
    this.#stream ??= new ReadableStream<Uint8Array<ArrayBuffer>>(
      {
        pull: (controller) => {
          this.#used = true;
          if (this.#bytes.byteLength > 0) controller.enqueue(this.#bytes);
          controller.close();
        },
      },
      { highWaterMark: 0 },
    );
    return this.#stream;
  }

  get used(): boolean {
    return this.#used;
  }

  /** The bytes, using the body up, without a stream; `undefined` once used or once `stream` was asked for (read it then as any body). */
  whole(): Uint8Array<ArrayBuffer> | undefined {
    return this.#used || this.#stream !== undefined ? undefined : this.#take();
  }

  /** The bytes, for a clone: refused once used, as the standard's. */
  copy(): Uint8Array<ArrayBuffer> {
    if (this.#used || this.#stream?.locked) throw new TypeError("Body has already been consumed.");
    return this.#bytes;
  }

  #take(): Uint8Array<ArrayBuffer> {
    if (this.#used || this.#stream?.locked) throw new TypeError("Body is unusable: Body has already been read");
    this.#used = true;
    // A stream asked for but never read ends empty, as a disturbed body's.
    this.#stream?.cancel().catch(() => undefined);
    return this.#bytes;
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = this.#take();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  }

  async bytes(): Promise<Uint8Array<ArrayBuffer>> {
    return new Uint8Array(await this.arrayBuffer());
  }

  async text(): Promise<string> {
    return new TextDecoder().decode(this.#take());
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  /** `blob()` and `formData()` parse as undici does, from the bytes and the owner's Content-Type. */
  async blob(headers: Headers): Promise<Blob> {
    return this.#native(headers).blob();
  }

  async formData(headers: Headers): Promise<FormData> {
    return this.#native(headers).formData();
  }

  #native(headers: Headers): Response {
    const type = headers.get("content-type");
    return new Response(this.#take(), type === null ? {} : { headers: { "content-type": type } });
  }
}

/** A `Request` whose body is `bytes`, held in memory (see the file's comment). */
export class WholeRequest extends Request {
  readonly #held: HeldBody;

  constructor(url: URL | string, init: { method: string; headers: HeadersInit }, bytes: Uint8Array<ArrayBuffer>) {
    super(url, init);
    this.#held = new HeldBody(bytes);
  }

  /** The bytes, using the body up, without a stream; `undefined` once used or once `body` was asked for (read it then as any body). */
  wholeBody(): Uint8Array<ArrayBuffer> | undefined {
    return this.#held.whole();
  }

  override get body(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return this.#held.stream;
  }
  override get bodyUsed(): boolean {
    return this.#held.used;
  }
  override arrayBuffer(): Promise<ArrayBuffer> {
    return this.#held.arrayBuffer();
  }
  override bytes(): Promise<Uint8Array<ArrayBuffer>> {
    return this.#held.bytes();
  }
  override text(): Promise<string> {
    return this.#held.text();
  }
  override json(): Promise<unknown> {
    return this.#held.json();
  }
  override blob(): Promise<Blob> {
    return this.#held.blob(this.headers);
  }
  override formData(): Promise<FormData> {
    return this.#held.formData(this.headers);
  }

  override clone(): WholeRequest {
    return new WholeRequest(this.url, { method: this.method, headers: new Headers(this.headers) }, this.#held.copy());
  }
}

/** Statuses whose response has no body (Fetch: "null body status"; 101 and 103 are refused as any status under 200). */
const NULL_BODY_STATUS = new Set([204, 205, 304]);

/** A `Response` whose body is `body` (a string, as UTF-8, or bytes), held in memory (see the file's comment). */
export class WholeResponse extends Response {
  readonly #held: HeldBody;

  constructor(body: string | Uint8Array<ArrayBuffer>, init: ResponseInit = {}) {
    super(null, init);
    if (NULL_BODY_STATUS.has(this.status)) throw new TypeError(`Response constructor: Invalid response status code ${this.status}`);
    // As `new Response(string)`: a text body without a type is text/plain.
    if (typeof body === "string" && !this.headers.has("content-type")) this.headers.set("content-type", "text/plain;charset=UTF-8");
    this.#held = new HeldBody(typeof body === "string" ? utf8.encode(body) : body);
  }

  /** The bytes, using the body up, without a stream; `undefined` once used or once `body` was asked for (read it then as any body). */
  wholeBody(): Uint8Array<ArrayBuffer> | undefined {
    return this.#held.whole();
  }

  override get body(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return this.#held.stream;
  }
  override get bodyUsed(): boolean {
    return this.#held.used;
  }
  override arrayBuffer(): Promise<ArrayBuffer> {
    return this.#held.arrayBuffer();
  }
  override bytes(): Promise<Uint8Array<ArrayBuffer>> {
    return this.#held.bytes();
  }
  override text(): Promise<string> {
    return this.#held.text();
  }
  override json(): Promise<unknown> {
    return this.#held.json();
  }
  override blob(): Promise<Blob> {
    return this.#held.blob(this.headers);
  }
  override formData(): Promise<FormData> {
    return this.#held.formData(this.headers);
  }

  override clone(): WholeResponse {
    return new WholeResponse(this.#held.copy(), { status: this.status, statusText: this.statusText, headers: new Headers(this.headers) });
  }
}

const utf8 = new TextEncoder();
