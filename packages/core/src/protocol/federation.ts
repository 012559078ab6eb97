/**
 * PROTOCOL.md §2: the federation endpoint. One `POST`, checks in the order §2 gives —
 * body and `content` size (413), form and parameters (400), rate limit (429), bearer
 * token (401), the site named (404), policy (403), the rest — and the first that fails
 * answers.
 */
import type { SitePolicy } from "../api.js";
import { PmError, errorResponse } from "../errors.js";
import type { Engine } from "./engine.js";
import { bearerToken, isFormContentType, parseFederationRequest, parseForm } from "@indiepm/protocol";
import type { RequestLimiter } from "./rate-limit.js";
import { readLimited } from "../http/read-body.js";
import { answerAuthorize } from "./actions/authorize.js";
import { answerDeliver, checkDeliverToken } from "./actions/deliver.js";
import { answerGrant } from "./actions/grant.js";
import { answerNotify } from "./actions/notify.js";
import { answerRequest } from "./actions/request.js";
import { answerVerify } from "./actions/verify.js";

export interface FederationContext {
  engine: Engine;
  policies: Record<string, SitePolicy>;
  /** §6 Abuse: in memory (one process) or counted in the shared store (several). */
  rateLimiter: RequestLimiter;
  maxBodyBytes: number;
}

/** Answers one federation request; never throws. */
export async function handleFederation(ctx: FederationContext, request: Request, clientAddress: string | undefined): Promise<Response> {
  const { engine } = ctx;
  try {
    const body = await readLimited(request, ctx.maxBodyBytes);
    if (!isFormContentType(request.headers.get("content-type"))) {
      throw new PmError("invalid_request", "The body must be application/x-www-form-urlencoded.");
    }
    const req = parseFederationRequest(parseForm(body), engine.urlPolicy);
    if (req.action === "notify" || req.action === "authorize") {
      const wait = await ctx.rateLimiter.hit(req.sender, clientAddress, engine.now());
      if (wait !== undefined) throw new PmError("rate_limited", "Too many requests; come back later.", { retryAfter: wait });
    }
    switch (req.action) {
      case "notify":
        return await answerNotify(engine, ctx.policies, req);
      case "authorize":
        return await answerAuthorize(engine, ctx.policies, req);
      case "verify":
        return await answerVerify(engine, req);
      case "request":
        return await answerRequest(engine, req);
      case "grant":
        return await answerGrant(engine, req);
      case "deliver": {
        const read = await checkDeliverToken(engine, req, bearerToken(request.headers.get("authorization")));
        return await answerDeliver(engine, ctx.policies, req, read);
      }
    }
  } catch (error) {
    if (error instanceof PmError && error.code === "store_error") {
      // Answered 503 (errorResponse): the store's one sentence is what the operator needs, not a stack per request.
      engine.log.warn("federation request refused: the store is unavailable", { error: error.message });
    } else if (!(error instanceof PmError) || error.status === 500) {
      engine.log.error("federation request failed", { error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    }
    return errorResponse(error);
  }
}
