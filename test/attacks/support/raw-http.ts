/**
 * HTTP/1.1 by hand over a TCP socket, for the requests `fetch` will not send: a
 * `Content-Length` larger than the body and then a closed connection, chunked bodies of
 * any size, framing that lies.
 */
import { connect } from "node:net";
import type { WireAnswer } from "./answers.js";

export interface RawOutcome {
  /** The answer, when a whole one came back. */
  answer?: WireAnswer;
  /** Bytes received in all. */
  received: number;
  /** How the exchange ended. */
  ended: "answered" | "server-closed" | "client-closed" | "timeout";
  /** A socket error seen on the way (EPIPE, ECONNRESET…), when there was one. */
  error?: string;
}

export interface RawOptions {
  /** After the last part: half-close (`end`), drop the connection (`destroy`), or keep it open and wait for the answer. */
  finish: "end" | "destroy" | "wait";
  timeoutMs: number;
  /** Pause between parts, ms (default 0). */
  pauseMs?: number;
  host?: string;
}

/** A request head; `headers` are sent as given, in order. */
export function head(method: string, path: string, headers: Array<[string, string]>): Uint8Array {
  return Buffer.from(`${method} ${path} HTTP/1.1\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`, "latin1");
}

/** One chunk of a chunked body (`[]` for the last one). */
export function chunk(data: Uint8Array): Uint8Array {
  return Buffer.concat([Buffer.from(`${data.byteLength.toString(16)}\r\n`), data, Buffer.from("\r\n")]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes `parts` on a new connection to `port` and reads what comes back. */
export function rawExchange(port: number, parts: Uint8Array[], options: RawOptions): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: options.host ?? "127.0.0.1" });
    const received: Buffer[] = [];
    let size = 0;
    let error: string | undefined;
    let settled = false;
    const finish = (ended: RawOutcome["ended"]) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const answer = parseAnswer(Buffer.concat(received), true);
      resolve({ ...(answer ? { answer } : {}), received: size, ended, ...(error ? { error } : {}) });
    };
    const timer = setTimeout(() => finish("timeout"), options.timeoutMs);
    socket.on("data", (data: Buffer) => {
      received.push(data);
      size += data.byteLength;
      if (options.finish === "wait" && parseAnswer(Buffer.concat(received), false)) finish("answered");
    });
    socket.on("error", (e: NodeJS.ErrnoException) => {
      error ??= e.code ?? e.message;
    });
    socket.on("close", () => finish(options.finish === "destroy" ? "client-closed" : "server-closed"));
    socket.on("connect", () => {
      void (async () => {
        for (const part of parts) {
          if (socket.destroyed) return;
          if (!socket.write(part)) await new Promise((r) => socket.once("drain", r).once("close", r));
          if (options.pauseMs) await sleep(options.pauseMs);
        }
        if (options.finish === "end") socket.end();
        if (options.finish === "destroy") finish("client-closed");
      })();
    });
  });
}

/** A complete HTTP/1.1 answer in `data` (Content-Length, chunked, or until the connection `closed`), or `undefined`. */
export function parseAnswer(data: Buffer, closed: boolean): WireAnswer | undefined {
  const end = data.indexOf("\r\n\r\n");
  if (end === -1) return undefined;
  const lines = data.subarray(0, end).toString("latin1").split("\r\n");
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "")?.[1]);
  if (!Number.isInteger(status)) return undefined;
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  const rest = data.subarray(end + 4);
  if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) {
    const body: Buffer[] = [];
    let at = 0;
    for (;;) {
      const lineEnd = rest.indexOf("\r\n", at);
      if (lineEnd === -1) return undefined;
      const length = parseInt(rest.subarray(at, lineEnd).toString("latin1"), 16);
      if (!Number.isFinite(length)) return undefined;
      if (length === 0) break;
      if (rest.byteLength < lineEnd + 2 + length + 2) return undefined;
      body.push(rest.subarray(lineEnd + 2, lineEnd + 2 + length));
      at = lineEnd + 2 + length + 2;
    }
    return { status, headers, text: Buffer.concat(body).toString("utf8") };
  }
  const length = Number(headers.get("content-length") ?? NaN);
  if (Number.isFinite(length)) return rest.byteLength >= length ? { status, headers, text: rest.subarray(0, length).toString("utf8") } : undefined;
  return closed ? { status, headers, text: rest.toString("utf8") } : undefined;
}
