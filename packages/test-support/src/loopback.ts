/**
 * Real servers in tests (STYLE.md practice 9): each on 127.0.0.1 and a port the system
 * picks, each closed with its open connections, each data folder fresh and removed.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Listens on 127.0.0.1 (`port` 0: a free port) and returns `http://127.0.0.1:PORT/`. */
export async function listenLoopback(server: Server, port = 0): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => reject(error);
    server.once("error", onError);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", onError);
      resolve();
    });
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

/** Closes a server now: open keep-alive connections would hold `close()` open. */
export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

export interface LoopbackServer {
  url: string;
  server: Server;
  /** TCP connections accepted so far. */
  connections(): number;
  close(): Promise<void>;
}

/** A loopback HTTP server on a fresh port, counting its connections. */
export async function startLoopbackServer(handler?: (req: IncomingMessage, res: ServerResponse) => void): Promise<LoopbackServer> {
  const server = handler ? createServer(handler) : createServer();
  let connections = 0;
  server.on("connection", () => (connections += 1));
  const url = await listenLoopback(server);
  return { url, server, connections: () => connections, close: () => closeServer(server) };
}

/** A loopback port nothing listens on (a server is started there and closed). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  const url = await listenLoopback(server);
  await closeServer(server);
  return Number(new URL(url).port);
}

export interface TempDir {
  path: string;
  remove(): Promise<void>;
}

/** A fresh folder under the system's temporary folder, `prefix` plus random characters. */
export async function tempDir(prefix = "indiepm-test-"): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
