/**
 * Failures of the database as one `PmError("store_error")` sentence each, naming the
 * server (host, port, database; never the password), with the driver's error as `cause`.
 */
import { DuplicateKeyError, PmError } from "@indiepm/core";

/** `host:port/database` of a connection URL, for sentences. */
export function describeUrl(url: URL): string {
  const host = url.hostname || "localhost";
  return `${host}:${url.port || "5432"}/${decodeURIComponent(url.pathname.slice(1)) || "(default database)"}`;
}

const UNREACHABLE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN", "EPIPE"]);

/** The sentence for a driver error `error` met talking to `where`. */
export function storeError(error: unknown, where: string): Error {
  if (error instanceof PmError || error instanceof DuplicateKeyError) return error;
  const e = error as { code?: string; message?: string };
  const code = typeof e?.code === "string" ? e.code : "";
  const message = typeof e?.message === "string" ? e.message : String(error);
  let sentence: string;
  if (/timeout exceeded when trying to connect/i.test(message)) {
    // pg-pool says this both for a server that does not answer and for a pool whose every connection is busy.
    sentence = `PostgreSQL at ${where} gave no connection in time: the server does not answer, or every pooled connection stayed busy (options connectTimeoutMs, poolSize).`;
  } else if (UNREACHABLE_CODES.has(code) || /Connection terminated|connection timeout/i.test(message)) {
    sentence = `PostgreSQL at ${where} is unreachable (${code || message.replace(/\.$/, "")}); is the server running and the URL right?`;
  } else if (code === "57P01" || code === "57P02" || code === "57P03" || code.startsWith("08")) {
    sentence = `PostgreSQL at ${where} is not available now (${message.replace(/\.$/, "")}).`;
  } else if (code === "28P01" || code === "28000") {
    sentence = `PostgreSQL at ${where} refused the connection: ${message.replace(/\.$/, "")}; check the user and password of the URL.`;
  } else if (code === "3D000") {
    sentence = `PostgreSQL at ${where} has no such database; create it first (createdb).`;
  } else if (code === "57014") {
    sentence = `A statement on PostgreSQL at ${where} took too long and was cancelled (statement_timeout).`;
  } else if (code === "55P03") {
    sentence = `Waiting for a lock on PostgreSQL at ${where} took too long (lock_timeout).`;
  } else {
    sentence = `PostgreSQL at ${where} failed: ${message.replace(/\.$/, "")}${code ? ` (${code})` : ""}.`;
  }
  return new PmError("store_error", sentence, { cause: error });
}
