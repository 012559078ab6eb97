/**
 * Outbound clients that a test file closes with its servers, after each test: a client's
 * connection pool or resolver left open would outlive the test that made it.
 */
import { createHttpClient, type ClosableHttpClient, type HttpClientOptions } from "../../src/http/client.js";

/** What a test file closes after each test, last pushed first. */
export type Cleanups = Array<() => Promise<void>>;

/** `client(options)`: a new HTTP client whose `close()` joins `cleanups`. */
export function closingClients(cleanups: Cleanups): (options: HttpClientOptions) => ClosableHttpClient {
  return (options) => {
    const http = createHttpClient(options);
    cleanups.push(() => http.close());
    return http;
  };
}
