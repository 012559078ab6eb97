/**
 * Production mode over loopback (PROTOCOL.md "URLs", §6): HTTPS servers with the test
 * certificate of packages/core's own tests (`*.example.test`), names resolved by a table
 * the test owns instead of DNS, and two ways to see a connection that must not happen —
 * trap servers listening where a refused address would lead, and a spy on every TCP
 * connection this process opens.
 */
import { createServer, type Server } from "node:https";
import { Socket, type AddressInfo } from "node:net";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Lookup } from "@indiepm/core";
import { TEST_TLS } from "../../../packages/core/test/support/loopback.js";

export { TEST_TLS };

export interface TlsServer {
  server: Server;
  host: string;
  port: number;
  /** TCP connections accepted, before any TLS. */
  connections: number;
  close(): Promise<void>;
}

/** An HTTPS server on `host:port` (port 0: any) with the test certificate. */
export async function startTls(host: string, port: number, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TlsServer> {
  const server = createServer({ key: TEST_TLS.key, cert: TEST_TLS.cert }, handler);
  server.keepAliveTimeout = 500;
  const self: TlsServer = {
    server,
    host,
    port: 0,
    connections: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server.on("connection", () => self.connections++);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  self.port = (server.address() as AddressInfo).port;
  return self;
}

/** A name table standing in for DNS: what a test sets is what the client gets; unknown names do not resolve. */
export function nameTable() {
  const names = new Map<string, string[]>();
  const asked: string[] = [];
  const lookup: Lookup = async (hostname) => {
    asked.push(hostname);
    const addresses = names.get(hostname.toLowerCase());
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    return addresses.map((address) => ({ address, family: address.includes(":") ? (6 as const) : (4 as const) }));
  };
  return { names, asked, lookup, set: (name: string, ...addresses: string[]) => void names.set(name.toLowerCase(), addresses) };
}

export interface ConnectAttempt {
  host: string;
  port: number;
}

/**
 * Records every outgoing TCP connection this process starts (`net` and `tls` both go
 * through `Socket.prototype.connect`), with the address it is about to connect to.
 * `restore()` puts the original back.
 */
export function spyOnConnections() {
  const attempts: ConnectAttempt[] = [];
  const original = Socket.prototype.connect;
  Socket.prototype.connect = function (this: Socket, ...args: unknown[]) {
    const first = args[0];
    const options = (Array.isArray(first) ? first[0] : first) as { host?: string; port?: number; path?: string } | number | string;
    if (typeof options === "object" && options !== null && options.path === undefined) {
      attempts.push({ host: options.host ?? "localhost", port: Number(options.port) });
    } else if (typeof options === "number" || (typeof options === "string" && /^\d+$/.test(options))) {
      attempts.push({ host: typeof args[1] === "string" ? args[1] : "localhost", port: Number(options) });
    }
    return (original as (...a: unknown[]) => Socket).apply(this, args);
  } as typeof Socket.prototype.connect;
  return {
    attempts,
    restore: () => {
      Socket.prototype.connect = original;
    },
  };
}
