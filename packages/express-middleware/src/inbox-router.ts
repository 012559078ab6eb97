/**
 * `indiepmInbox(options)`: the owner's web inbox (`@indiepm/web`) as an Express 5 router,
 * mounted wherever the owner likes, beside the `indiepm()` router whose engine it shows:
 *
 * ```js
 * const pm = indiepm({ endpoint: "https://example.com/pm/", sites: ["https://example.com/"], dataDir: ".indiepm" });
 * app.use("/pm", pm);
 * app.use("/inbox", indiepmInbox({ server: pm.server, url: "https://example.com/inbox/" }));
 * ```
 */
import express from "express";
import type { Router } from "express";
import { WebInboxError, createWebInbox, type WebInbox, type WebInboxOptions } from "@indiepm/web";
import { configError, isPlainObject, looksLikeMiddlewareCall, shown } from "./validate.js";
import { errorLogger, warningLogger, webHandler } from "./web-bridge.js";
import { BODY_LIMITS, MAX_REQUEST_BODY_BYTES, TRUST_PROXY_OFF } from "@indiepm/core/node";

const FACTORY = "indiepmInbox";

/** The web inbox's options (`@indiepm/web`), checked once by `createWebInbox`. */
export type IndiePmInboxOptions = WebInboxOptions;

export interface IndiePmInboxRouter extends Router {
  readonly inbox: WebInbox;
  /** Closes the inbox's own outbound client (not the engine). */
  close(): Promise<void>;
}

/** Creates the inbox router; options are checked once, here. */
export function indiepmInbox(options: IndiePmInboxOptions): IndiePmInboxRouter;
export function indiepmInbox(...args: unknown[]): IndiePmInboxRouter {
  if (looksLikeMiddlewareCall(args)) {
    throw configError(FACTORY, 'it appears you wrote `app.use(indiepmInbox)`, but it should be `app.use("/inbox", indiepmInbox({ server, url }))`.');
  }
  const options = args[0];
  if (!isPlainObject(options)) throw configError(FACTORY, `options must be an object such as { server, url }, got ${shown(options)}.`);
  // The inbox's options are the web package's, names and values checked by its resolver.
  let inbox: WebInbox;
  try {
    inbox = createWebInbox(options as unknown as IndiePmInboxOptions);
  } catch (error) {
    if (!(error instanceof WebInboxError) || error.code !== "invalid_config") throw error;
    throw configError(FACTORY, error.message.replace(/^createWebInbox:\s*/, ""), { cause: error });
  }
  const { server, logger } = options as unknown as IndiePmInboxOptions;
  const router = express.Router() as IndiePmInboxRouter;
  router.use(
    // The client address goes along (the sign-in limiter counts it), by the engine's rule.
    webHandler((request, context) => inbox.handle(request, context), {
      // Read up to the largest route limit; the inbox holds its forms to BODY_LIMITS.webForm itself.
      maxBodyBytes: MAX_REQUEST_BODY_BYTES,
      log: errorLogger(logger),
      warn: warningLogger(logger),
      factory: "indiepmInbox()",
      // The inbox's forms and its Micropub endpoints (issue 13) hold bodies to BODY_LIMITS.webForm.
      allowedBodies: `a message written in the inbox or posted by a Micropub app may be up to ${BODY_LIMITS.webForm / 1024} KiB, and the Micropub app is then shown that HTML page instead of Micropub's JSON error`,
      trustProxy: server.trustProxy ?? TRUST_PROXY_OFF,
      started: Promise.resolve(true),
      baseUrl: new URL(inbox.url).origin,
    }),
  );
  Object.defineProperties(router, {
    inbox: { value: inbox, enumerable: true },
    close: { value: () => inbox.close(), enumerable: true },
  });
  return router;
}
