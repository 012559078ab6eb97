/**
 * How the inbox names people (src/people.ts): the h-card name with the site beside it,
 * escaped like everything else; initials without a photo; the photo only from the
 * inbox's own origin, served with the headers that keep it an image.
 */
import type { AvatarImage, Person, PmServer } from "@indiepm/core";
import { describe, expect, it } from "vitest";
import type { Frame } from "../src/pages.js";
import { avatarResponse, initialsOf, peopleDatalist, personLabel, personView } from "../src/people.js";
import { CONTENT_SECURITY_POLICY } from "../src/security.js";

const BOB = "https://bob.example/";
const frameWith = (...people: Person[]): Frame => ({ base: "/inbox/", site: "https://alice.example/", people: new Map(people.map((p) => [p.site, p])) });

describe("personView and personLabel", () => {
  it("a person never read is their site, with initials", () => {
    const view = personView(frameWith(), BOB);
    expect(view).toMatchObject({ site: BOB, label: "bob.example", initials: "B" });
    expect(view.photo).toBeUndefined();
    expect(String(personLabel(frameWith(), BOB))).toContain(`<span class="avatar small initials hue-${view.hue}" aria-hidden="true">B</span>`);
  });

  it("a named person shows the name and, beside it, the site (a name is only what their page claims)", () => {
    const html = String(personLabel(frameWith({ site: BOB, name: "Bob Example", avatar: "k-0123456789abcdef" }), BOB));
    expect(html).toContain(`<img class="avatar small" src="/inbox/avatar/k-0123456789abcdef" alt=""`);
    expect(html).toContain(`<span class="name">Bob Example</span> <span class="host">bob.example</span>`);
  });

  it("a hostile name is text, not markup", () => {
    const html = String(personLabel(frameWith({ site: BOB, name: `<img src=x onerror=alert(1)>"` }), BOB));
    expect(html).not.toContain("<img src=x");
    expect(html).toContain("&lt;img src=x onerror=alert(1)&gt;&quot;");
  });

  it.each([
    ["Bob Example", "BE"],
    ["Bob", "B"],
    ["bob.example", "B"],
    ["127.0.0.1:4003", "1"],
    ["émile zola", "ÉZ"],
    ["Jean-Luc Picard", "JP"],
    ["!!!", "?"],
  ])("initials of %s: %s", (text, initials) => {
    expect(initialsOf(text)).toBe(initials);
  });

  it("To's suggestions: named people first, the site as the value, the name and site as the label", () => {
    const frame = frameWith({ site: "https://zed.example/" }, { site: BOB, name: "Bob Example" });
    expect(String(peopleDatalist(frame, "to-people"))).toBe(
      `<datalist id="to-people"><option value="${BOB}">Bob Example (bob.example)</option><option value="https://zed.example/">zed.example</option></datalist>`,
    );
    expect(String(peopleDatalist(frameWith(), "to-people"))).toBe("");
  });
});

describe("GET avatar/<id>", () => {
  const image: AvatarImage = { type: "image/png", body: new Uint8Array([0x89, 0x50, 0x4e, 0x47]), hash: "0123456789abcdef" };
  const pm = { avatar: async (id: string) => (id === "k-0123456789abcdef" ? image : null) } as unknown as PmServer;

  it("serves the kept image with its own type, nosniff, the inbox's CSP and a long private cache", async () => {
    const response = await avatarResponse(pm, new Request("http://inbox.test/avatar/k-0123456789abcdef"), "k-0123456789abcdef");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("image/png");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("content-security-policy")).toBe(CONTENT_SECURITY_POLICY);
    expect(response.headers.get("cache-control")).toBe("private, max-age=2592000, immutable");
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(image.body);
  });

  it("answers 304 to the ETag it gave, 404 to an id not kept", async () => {
    const again = await avatarResponse(
      pm,
      new Request("http://inbox.test/avatar/x", { headers: { "if-none-match": `"${image.hash}"` } }),
      "k-0123456789abcdef",
    );
    expect(again.status).toBe(304);
    expect((await avatarResponse(pm, new Request("http://inbox.test/avatar/x"), "k-ffffffffffffffff")).status).toBe(404);
  });
});
