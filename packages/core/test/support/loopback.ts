/**
 * Loopback servers for the outbound-HTTP and discovery tests (STYLE.md practice 9):
 * each test starts its own on a fresh port and closes it; they count connections and
 * requests so a test can assert that a refused address was never reached.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";

/** What it returns is awaited only for a rejection (which destroys the response): `res.end()` may be returned. */
export type Handler = (req: IncomingMessage, res: ServerResponse, server: LoopbackServer) => unknown;

export interface LoopbackServer {
  /** `http://127.0.0.1:PORT` (or `https://…`), no trailing slash. */
  origin: string;
  port: number;
  connections: number;
  requests: IncomingMessage[];
  close(): Promise<void>;
}

/**
 * A self-signed certificate (CA:TRUE, valid 2000–2099) for `allowed.test`,
 * `refused.test` and `*.example.test`. Test-only: its key is public.
 */
export const TEST_TLS = {
  key: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgze7sCBLZBpGiOpLT
tJk7rlWmE6XeXFBl5tJ7+S9BXG+hRANCAARVRdaGgyGKgM582XCSAEZHnYi4O11E
MCGe9i3oo9udXmGnhtQeJnVfqRyoMY4G/M+8tEllEUJo9ayhykCi6sQk
-----END PRIVATE KEY-----
`,
  cert: `-----BEGIN CERTIFICATE-----
MIIBrzCCAVWgAwIBAgIBATAKBggqhkjOPQQDAjAXMRUwEwYDVQQDDAxpbmRpZXBt
IHRlc3QwIBcNMDAwMTAxMDAwMDAwWhgPMjA5OTEyMzEwMDAwMDBaMBcxFTATBgNV
BAMMDGluZGllcG0gdGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFVF1oaD
IYqAznzZcJIARkediLg7XUQwIZ72Leij251eYaeG1B4mdV+pHKgxjgb8z7y0SWUR
Qmj1rKHKQKLqxCSjgY8wgYwwNQYDVR0RBC4wLIIMYWxsb3dlZC50ZXN0ggxyZWZ1
c2VkLnRlc3SCDiouZXhhbXBsZS50ZXN0MA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0P
AQH/BAQDAgKEMBMGA1UdJQQMMAoGCCsGAQUFBwMBMB0GA1UdDgQWBBTmyv6Pt64y
wxHNt+svENtF2QJgcTAKBggqhkjOPQQDAgNIADBFAiEAjasIySWOvv38wCUsr8kG
wPrAYEtq/X8LNZKKVkwQf44CIC8Cb+Fhnv5PVt+tsU+rPIYsg55oaOnL5IVq5OKR
oKCv
-----END CERTIFICATE-----
`,
};

export interface StartOptions {
  /** Serve HTTPS with `TEST_TLS`. */
  tls?: boolean;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
}

export async function startServer(handler: Handler, options: StartOptions = {}): Promise<LoopbackServer> {
  let self: LoopbackServer;
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    self.requests.push(req);
    Promise.resolve(handler(req, res, self)).catch((error: unknown) => {
      res.destroy(error instanceof Error ? error : new Error(String(error)));
    });
  };
  const server: Server = options.tls ? createHttpsServer({ key: TEST_TLS.key, cert: TEST_TLS.cert }, onRequest) : createHttpServer(onRequest);
  // Raw TCP connections, before any TLS: "nothing connected" means nothing at all.
  server.on("connection", () => self.connections++);
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  self = {
    origin: `${options.tls ? "https" : "http"}://${host}:${port}`,
    port,
    connections: 0,
    requests: [],
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return self;
}

/** A port on which nothing listens (it was bound a moment ago, then released). */
export async function closedPort(): Promise<number> {
  const server = await startServer(() => undefined);
  await server.close();
  return server.port;
}
