/**
 * The standalone server's routing (`indiepm serve`, and the demo's and tests' servers
 * built the same way): one node:http server where the engine answers the federation
 * endpoint (`POST /`), the owner API (`/api/…`) and `GET /health` (CLI.md), and the web inbox everything else
 * (`GET /` first). The composition of two packages, so it lives here, not in either.
 */
import type { PmServer } from "@indiepm/core";
import type { WebInbox } from "@indiepm/web";

export function withWebInbox(server: PmServer, inbox: WebInbox): Pick<PmServer, "handle" | "trustProxy"> {
  return {
    // So that createNodeHandler takes the client address by the engine's rule (the sign-in limit counts it).
    trustProxy: server.trustProxy,
    handle(request, context = {}) {
      const p = context.path ?? new URL(request.url).pathname;
      const engine = p.startsWith("/api/") || p === "/health" || ((p === "/" || p === "") && request.method.toUpperCase() === "POST");
      return engine
        ? server.handle(request, context)
        : inbox.handle(request, { path: p, ...(context.clientAddress === undefined ? {} : { clientAddress: context.clientAddress }) });
    },
  };
}
