/**
 * whole-body.ts: a `WholeRequest` / `WholeResponse` answers every body read as the native
 * `Request` / `Response` with the same body does — each case below runs on both and must
 * come out alike — while `wholeBody()` hands the bytes over without a stream.
 */
import { describe, expect, it } from "vitest";
import { errorResponse, jsonResponse, PmError } from "../src/errors.js";
import { WholeRequest, WholeResponse } from "../src/whole-body.js";

const URL_ = "http://127.0.0.1:9/inbox/";
const form = "action=deliver&content=h%C3%A9llo+w%C3%B6rld&to=a&to=b";
const multipart = [
  "--XyZ",
  'Content-Disposition: form-data; name="a"',
  "",
  "one",
  "--XyZ",
  'Content-Disposition: form-data; name="a"',
  "",
  "two",
  "--XyZ--",
  "",
].join("\r\n");
const bytesOf = (text: string) => new TextEncoder().encode(text);

/** A body of each kind, native and whole, with a Content-Type and a text. */
type Make = (type: string, text: string) => Request | Response;
const kinds: Record<string, [native: Make, whole: Make]> = {
  Request: [
    (type, text) => new Request(URL_, { method: "POST", headers: { "content-type": type }, body: bytesOf(text) }),
    (type, text) => new WholeRequest(URL_, { method: "POST", headers: { "content-type": type } }, bytesOf(text)),
  ],
  Response: [
    (type, text) => new Response(bytesOf(text), { status: 201, headers: { "content-type": type } }),
    (type, text) => new WholeResponse(bytesOf(text), { status: 201, headers: { "content-type": type } }),
  ],
};

/** What a case makes of a body: its value, or the kind of error it threw. */
async function outcome(run: () => Promise<unknown>): Promise<unknown> {
  try {
    const value = await run();
    if (value instanceof ArrayBuffer || value instanceof Uint8Array) return { bytes: [...new Uint8Array(value)], type: value.constructor.name };
    if (value instanceof Blob) return { blob: value.type, text: await value.text() };
    if (value instanceof FormData) return { form: [...value.entries()] };
    if (value instanceof Request || value instanceof Response)
      return { cloned: value.constructor === Request || value.constructor === Response ? "native" : "whole" };
    return { value };
  } catch (error) {
    return { threw: (error as Error).constructor.name };
  }
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stream.getReader();
  const chunks: number[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(...value);
  }
  return new TextDecoder().decode(new Uint8Array(chunks));
}

type Body = Request | Response;
const cases: [name: string, type: string, text: string, run: (b: Body) => Promise<unknown>][] = [
  ["text", "text/plain", "héllo", (b) => b.text()],
  ["text strips a UTF-8 BOM", "text/plain", "\uFEFFhi", (b) => b.text()],
  ["text of an empty body", "text/plain", "", (b) => b.text()],
  ["json", "application/json", '{"a":[1,2]}', (b) => b.json()],
  ["json that is not JSON throws", "application/json", "{nope", (b) => b.json()],
  ["arrayBuffer", "application/octet-stream", "abc", (b) => b.arrayBuffer()],
  ["bytes", "application/octet-stream", "abc", (b) => b.bytes()],
  ["blob with the content type", "text/plain; charset=utf-8", "blob", (b) => b.blob()],
  ["formData of a form", "application/x-www-form-urlencoded", form, (b) => b.formData()],
  ["formData of multipart", "multipart/form-data; boundary=XyZ", multipart, (b) => b.formData()],
  ["formData of text throws", "text/plain", "x", (b) => b.formData()],
  ["bodyUsed before and after", "text/plain", "x", async (b) => [b.bodyUsed, await b.text(), b.bodyUsed]],
  ["a second read throws", "text/plain", "x", async (b) => [await b.text(), await b.text()]],
  ["read through body's reader", "text/plain", "stream", async (b) => [b.bodyUsed, await readAll(b.body!), b.bodyUsed]],
  [
    "body is the same stream each time",
    "text/plain",
    "x",
    async (b) => {
      const first = b.body;
      return first === b.body;
    },
  ],
  [
    "text while body is locked to a reader throws",
    "text/plain",
    "x",
    async (b) => {
      b.body!.getReader();
      return b.text();
    },
  ],
  [
    "text after the stream was read throws",
    "text/plain",
    "x",
    async (b) => {
      await new Response(b.body).text();
      return b.text();
    },
  ],
  [
    "clone: both read, and the clone is of the same kind",
    "text/plain",
    "twice",
    async (b) => {
      const copy = b.clone();
      return [await b.text(), await copy.text(), copy.headers.get("content-type"), await outcome(async () => copy)];
    },
  ],
  [
    "clone after a read throws",
    "text/plain",
    "x",
    async (b) => {
      await b.text();
      return b.clone();
    },
  ],
];

for (const [kind, [native, whole]] of Object.entries(kinds)) {
  describe(`Whole${kind} answers as a native ${kind} with the same body`, () => {
    for (const [name, type, text, run] of cases) {
      it(name, async () => {
        const expected = await outcome(() => run(native(type, text)));
        const got = await outcome(() => run(whole(type, text)));
        // A clone is of its original's kind; everything else comes out alike.
        expect(JSON.stringify(got).replace('"whole"', '"native"')).toBe(JSON.stringify(expected));
      });
    }
  });
}

describe("wholeBody(): the bytes without a stream, once", () => {
  it("a WholeRequest is a Request, with its method, URL and headers", () => {
    const request = new WholeRequest(URL_, { method: "POST", headers: { "content-type": "text/plain" } }, bytesOf("x"));
    expect(request).toBeInstanceOf(Request);
    expect([request.method, request.url, request.headers.get("content-type")]).toEqual(["POST", URL_, "text/plain"]);
  });

  it("hands over the very bytes, then nothing: the body is used", async () => {
    const bytes = bytesOf("abc");
    const request = new WholeRequest(URL_, { method: "POST", headers: {} }, bytes);
    expect(request.wholeBody()).toBe(bytes);
    expect(request.bodyUsed).toBe(true);
    expect(request.wholeBody()).toBeUndefined();
    await expect(request.text()).rejects.toBeInstanceOf(TypeError);
  });

  it("once `body` was asked for, the stream holds the body and wholeBody() gives nothing", async () => {
    const response = new WholeResponse("abc");
    const stream = response.body;
    expect(response.wholeBody()).toBeUndefined();
    expect(await readAll(stream)).toBe("abc");
  });

  it("a read makes a stream asked for earlier end empty", async () => {
    const response = new WholeResponse("abc");
    const stream = response.body;
    expect(await response.text()).toBe("abc");
    expect(await readAll(stream)).toBe("");
  });
});

describe("WholeResponse is constructed as a native Response", () => {
  it("a string body is UTF-8, text/plain when no type is given, as new Response(string)", async () => {
    const native = new Response("héllo");
    const whole = new WholeResponse("héllo");
    expect(whole).toBeInstanceOf(Response);
    expect([whole.status, whole.headers.get("content-type"), await whole.text()]).toEqual([
      native.status,
      native.headers.get("content-type"),
      await native.text(),
    ]);
  });

  it("a type given is kept; status, statusText and Set-Cookie headers as given", () => {
    const init = {
      status: 418,
      statusText: "Teapot",
      headers: [
        ["content-type", "application/json"],
        ["set-cookie", "a=1"],
        ["set-cookie", "b=2"],
      ] as [string, string][],
    };
    const whole = new WholeResponse("{}", init);
    const native = new Response("{}", init);
    expect([whole.status, whole.statusText, whole.ok, whole.headers.get("content-type"), whole.headers.getSetCookie()]).toEqual([
      native.status,
      native.statusText,
      native.ok,
      native.headers.get("content-type"),
      native.headers.getSetCookie(),
    ]);
  });

  it.each([101, 103, 204, 205, 304, 600])("a body with status %i throws as the native one", async (status) => {
    const native = await outcome(async () => new Response("x", { status }));
    expect(native).toHaveProperty("threw");
    expect(await outcome(async () => new WholeResponse("x", { status }))).toEqual(native);
  });

  it("the §2 answers are whole: jsonResponse and errorResponse", async () => {
    const ok = jsonResponse({ status: "delivered" }, 201);
    const refused = errorResponse(new PmError("invalid_request", "No."));
    expect(ok).toBeInstanceOf(WholeResponse);
    expect(refused).toBeInstanceOf(WholeResponse);
    expect(new TextDecoder().decode((ok as WholeResponse).wholeBody())).toBe('{"status":"delivered"}');
    expect(await refused.json()).toEqual({ error: "invalid_request", error_description: "No." });
  });
});
