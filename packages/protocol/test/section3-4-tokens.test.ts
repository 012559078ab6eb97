/**
 * PROTOCOL.md §3 step 6 and §4 steps 3, 5, 6: which codes and tokens are accepted, as
 * a fixture table over the pure verdict functions.
 */
import { describe, expect, it } from "vitest";
import { codeIsLive, tokenVerdict, type IssuedSecret } from "../src/tokens.js";

const S = "https://alice.example.org/";
const R = "https://bob.example.com/";
const X = "https://mallory.example/";
const M = "https://pm.alice.example.uk/messages/1";
const NOW = 1_000_000;
const base = { _id: "h", sender: S, recipient: R, createdAt: NOW - 1000, expiresAt: NOW + 60_000 };
// A stored code also names the endpoint it was issued to (§4 step 2), which the verdict ignores.
const code: IssuedSecret & { endpoint: string } = { ...base, kind: "code", endpoint: "https://pm.bob.example.net/" };
const messageToken: IssuedSecret = { ...base, kind: "message-token", message: M };
const standing: IssuedSecret = { ...base, kind: "standing-token" };

describe("§4 steps 3 and 5: codes", () => {
  it.each([
    ["a live code for (S, R)", code, S, R, true],
    ["an unknown code", null, S, R, false],
    ["a code for another sender", code, X, R, false],
    ["a code for another recipient", code, S, X, false],
    ["a used code", { ...code, usedAt: NOW - 1 }, S, R, false],
    ["a withdrawn code", { ...code, revokedAt: NOW - 1 }, S, R, false],
    ["an expired code", { ...code, expiresAt: NOW }, S, R, false],
    ["a token presented as a code", standing, S, R, false],
  ] as const)("%s", (_, doc, sender, recipient, live) => {
    expect(codeIsLive(doc, sender, recipient, NOW)).toBe(live);
  });
});

describe("§3 step 6 / §4 step 6: bearer tokens of deliver", () => {
  const req = { sender: S, recipient: R, message: M };
  it.each([
    ["a live message token for (S, R, M)", messageToken, req, { ok: true, duplicate: false }],
    ["the same message token again for the same (S, R, M): duplicate", { ...messageToken, usedAt: NOW - 5 }, req, { ok: true, duplicate: true }],
    ["a used message token for another message", { ...messageToken, usedAt: NOW - 5 }, { ...req, message: `${M}2` }, { ok: false }],
    ["a message token for another message", messageToken, { ...req, message: `${M}2` }, { ok: false }],
    ["a message token after it expired", { ...messageToken, expiresAt: NOW }, req, { ok: false }],
    ["a used message token after it expired", { ...messageToken, usedAt: NOW - 5, expiresAt: NOW - 1 }, req, { ok: false }],
    ["a standing token for (S, R), any message", standing, { ...req, message: "urn:uuid:1" }, { ok: true, duplicate: false }],
    ["a standing token for another sender", standing, { ...req, sender: X }, { ok: false }],
    ["a standing token for another recipient", standing, { ...req, recipient: X }, { ok: false }],
    ["a revoked standing token", { ...standing, revokedAt: NOW - 1 }, req, { ok: false }],
    ["an expired standing token", { ...standing, expiresAt: NOW - 1 }, req, { ok: false }],
    ["a code presented as a token", code, req, { ok: false }],
    ["an unknown token", null, req, { ok: false }],
  ] as const)("%s", (_, doc, request, expected) => {
    expect(tokenVerdict(doc as IssuedSecret | null, request, NOW)).toMatchObject(expected);
  });
});
