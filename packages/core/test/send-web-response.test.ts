/**
 * node-http.ts `sendWebResponse`: a body whole at once (every JSON answer and page) goes
 * out in one write with its Content-Length; a body still coming is streamed chunked, its
 * first chunk sent before the rest exists; a client going away cancels it.
 */
import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import { jsonResponse, WholeRequest, WholeResponse } from "@indiepm/protocol";
import { afterEach, describe, expect, it } from "vitest";
import { readLimited } from "../src/http/read-body.js";
import { sendWebResponse, toWebRequest } from "../src/node-http.js";

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

/** Serves `answer()` for every request; returns the port and how many writes to the kernel each response took. */
async function serve(answer: () => Response): Promise<{ port: number; writes: number[] }> {
  const writes: number[] = [];
  server = createServer((_req, res) => {
    // The socket's writes to the kernel: its handle's write* calls (a corked run of writes is one writev).
    let n = 0;
    const handle = (res.socket as unknown as { _handle: Record<string, unknown> })._handle;
    for (const name of ["writev", "writeBuffer", "writeLatin1String", "writeUtf8String", "writeAsciiString", "writeUcs2String"]) {
      const original = handle[name];
      if (typeof original !== "function") continue;
      handle[name] = function (this: unknown, ...args: unknown[]) {
        n++;
        return (original as (...a: unknown[]) => unknown).apply(this, args);
      };
    }
    res.on("finish", () => writes.push(n));
    void sendWebResponse(res, answer());
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  return { port: (server!.address() as { port: number }).port, writes };
}

/** The raw bytes a client receives for `GET /` (HTTP/1.1, connection closed after), with when each arrived. */
function rawGet(port: number, until: (text: string) => boolean): Promise<{ text: string; arrivals: { at: number; text: string }[] }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = connect(port, "127.0.0.1", () => socket.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    let text = "";
    const arrivals: { at: number; text: string }[] = [];
    socket.on("data", (chunk) => {
      text += chunk.toString("latin1");
      arrivals.push({ at: performance.now() - started, text: chunk.toString("latin1") });
      if (until(text)) socket.end();
    });
    socket.on("end", () => resolve({ text, arrivals }));
    socket.on("error", reject);
  });
}

describe("sendWebResponse", () => {
  it("sends a body whole at once with its Content-Length in one write, not chunked", async () => {
    const body = JSON.stringify({ status: "delivered" });
    const { port, writes } = await serve(() => Response.json({ status: "delivered" }, { status: 201 }));
    const { text } = await rawGet(port, () => false);
    const [head, rest] = text.split("\r\n\r\n") as [string, string];
    expect(head).toMatch(/^HTTP\/1\.1 201 /);
    expect(head.toLowerCase()).toContain(`content-length: ${Buffer.byteLength(body)}`);
    expect(head.toLowerCase()).not.toContain("transfer-encoding");
    expect(rest).toBe(body);
    expect(writes).toEqual([1]);
  });

  it("sends a §2 answer (a WholeResponse) from its bytes: one write, its Content-Length, no stream made", async () => {
    let streams = 0;
    const { port, writes } = await serve(() => {
      const answer = jsonResponse({ status: "delivered" }, 201);
      const body = Object.getOwnPropertyDescriptor(WholeResponse.prototype, "body")!.get!;
      Object.defineProperty(answer, "body", { get: () => (streams++, body.call(answer)) });
      return answer;
    });
    const { text } = await rawGet(port, () => false);
    expect(text.toLowerCase()).toContain("content-length: 22\r\n");
    expect(text.endsWith('\r\n\r\n{"status":"delivered"}')).toBe(true);
    expect(writes).toEqual([1]);
    expect(streams).toBe(0);
  });

  it("sends a WholeResponse whose body stream was asked for as any response", async () => {
    const { port } = await serve(() => {
      const answer = new WholeResponse("asked", { status: 200 });
      void answer.body;
      return answer;
    });
    const { text } = await rawGet(port, () => false);
    expect(text.endsWith("\r\n\r\nasked")).toBe(true);
  });

  it("keeps an empty body and a body-less answer bodiless", async () => {
    const { port } = await serve(() => new Response(null, { status: 204 }));
    const { text } = await rawGet(port, () => false);
    expect(text).toMatch(/^HTTP\/1\.1 204 /);
    expect(text.endsWith("\r\n\r\n")).toBe(true);
  });

  it("streams a body still coming: the first chunk arrives before the next exists, chunked", async () => {
    let produced = -1;
    const { port } = await serve(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(new TextEncoder().encode("first;"));
              setTimeout(() => {
                produced = performance.now();
                controller.enqueue(new TextEncoder().encode("second"));
                controller.close();
              }, 300);
            },
          }),
        ),
    );
    const started = performance.now();
    const { text, arrivals } = await rawGet(port, () => false);
    expect(text.toLowerCase()).toContain("transfer-encoding: chunked");
    expect(text).toContain("first;");
    expect(text).toContain("second");
    const firstAt = arrivals.find((a) => a.text.includes("first;"))!.at + started;
    expect(firstAt).toBeLessThan(produced);
  });

  it("cancels a streamed body when the client goes away", async () => {
    let cancelled = false;
    const { port } = await serve(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            pull(controller) {
              controller.enqueue(new TextEncoder().encode("x".repeat(1024)));
              return new Promise((resolve) => setTimeout(resolve, 20));
            },
            cancel() {
              cancelled = true;
            },
          }),
        ),
    );
    await rawGet(port, (text) => text.length > 4096);
    await expect.poll(() => cancelled, { timeout: 5_000 }).toBe(true);
  });
});

describe("toWebRequest", () => {
  it("holds a body it read as a WholeRequest, which readLimited takes without a stream", async () => {
    let got: { kind: boolean; text: string; over: unknown } | undefined;
    server = createServer(async (req, res) => {
      const request = await toWebRequest(req, { maxBodyBytes: 1024 });
      const body = Object.getOwnPropertyDescriptor(WholeRequest.prototype, "body")!.get!;
      let streams = 0;
      Object.defineProperty(request, "body", { get: () => (streams++, body.call(request)) });
      const text = new TextDecoder().decode(await readLimited(request, 1024));
      const over = await readLimited((await toWebRequest(req, { maxBodyBytes: 1024, body: new TextEncoder().encode("x".repeat(20)) })) as Request, 10).catch(
        (e) => e.code,
      );
      got = { kind: request instanceof WholeRequest && streams === 0, text, over };
      res.end();
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const port = (server!.address() as { port: number }).port;
    await fetch(`http://127.0.0.1:${port}/`, { method: "POST", body: "action=deliver" });
    expect(got).toEqual({ kind: true, text: "action=deliver", over: "too_large" });
  });
});
