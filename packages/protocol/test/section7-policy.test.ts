/** PROTOCOL.md §7 "Who may write": the receiver's policy decision. */
import { describe, expect, it } from "vitest";
import { allowsSender } from "../src/policy.js";

const A = "https://alice.example.org/";
describe("§7 receiver policy", () => {
  it.each([
    ["no policy: anyone", undefined, [], true],
    ["anyone", { policy: "anyone" as const }, [], true],
    ["nobody", { policy: "nobody" as const }, [], false],
    ["contacts, a stranger", { policy: "contacts" as const }, [], false],
    ["contacts, a site it wrote to", { policy: "contacts" as const }, [A], true],
    ["contacts, added by hand", { policy: "contacts" as const, contacts: [A] }, [], true],
    ["the block list wins over anyone", { policy: "anyone" as const, blocked: [A] }, [], false],
    ["the block list wins over contacts", { policy: "contacts" as const, contacts: [A], blocked: [A] }, [A], false],
  ])("%s", (_, policy, wroteTo, allowed) => {
    expect(allowsSender(policy, A, wroteTo)).toBe(allowed);
  });
});
