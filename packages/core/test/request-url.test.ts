/**
 * node-http.ts `requestUrl`: the absolute URL of a node:http request. The origin comes from
 * a `Host` that is a bare authority (else `http://localhost`) or from `baseUrl`; the path is
 * appended, never resolved, so no request-target changes the host.
 */
import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { requestUrl } from "../src/node-http.js";

const req = (host: string | undefined, url = "/") => ({ headers: host === undefined ? {} : { host }, url }) as unknown as IncomingMessage;

const cases: [host: string | undefined, target: string, expected: string][] = [
  ["pm.example.net", "/", "http://pm.example.net/"],
  ["PM.Example.net:8080", "/inbox/?q=1", "http://pm.example.net:8080/inbox/?q=1"],
  ["[::1]:3000", "/", "http://[::1]:3000/"],
  ["alice@pm.example.net", "/", "http://localhost/"],
  ["pm.example.net/evil", "/", "http://localhost/"],
  ["pm.example.net:notaport", "/", "http://localhost/"],
  ["", "/", "http://localhost/"],
  [undefined, "/x", "http://localhost/x"],
  ["pm.example.net", "//evil.example/x", "http://pm.example.net//evil.example/x"],
  ["pm.example.net", "http://evil.example/x?y", "http://pm.example.net/x?y"],
  ["pm.example.net", "*", "http://pm.example.net/"],
];

describe("requestUrl", () => {
  it.each(cases)("Host %j, target %j: %s", (host, target, expected) => {
    expect(requestUrl(req(host, target)).href).toBe(expected);
  });

  it("baseUrl gives the origin whatever the Host says", () => {
    expect(requestUrl(req("alice@evil.example", "/a"), "https://pm.example.net/ignored/path").href).toBe("https://pm.example.net/a");
  });
});
