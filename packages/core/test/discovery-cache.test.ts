/** PROTOCOL.md §1 caching: the engine's discovery cache keeps its bounds (entries, maximum age). */
import { describe, expect, it } from "vitest";
import { DiscoveryCache } from "../src/discovery/cache.js";

describe("DiscoveryCache", () => {
  it("reuses an endpoint while the page allows, keyed by the canonical site URL", () => {
    const cache = new DiscoveryCache({ maxEntries: 10, maxAgeMs: 3_600_000 });
    cache.set("https://bob.example.com", "https://pm.bob.example.net/", 60_000, 0);
    expect(cache.get("https://bob.example.com/", 59_999)).toBe("https://pm.bob.example.net/");
    expect(cache.get("https://bob.example.com/", 60_000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("keeps nothing for a lifetime of 0, and forgets on delete", () => {
    const cache = new DiscoveryCache({ maxEntries: 10, maxAgeMs: 3_600_000 });
    cache.set("https://bob.example.com/", "https://pm.bob.example.net/", 0, 0);
    expect(cache.get("https://bob.example.com/", 0)).toBeUndefined();
    cache.set("https://bob.example.com/", "https://pm.bob.example.net/", 60_000, 0);
    cache.delete("https://bob.example.com");
    expect(cache.get("https://bob.example.com/", 1)).toBeUndefined();
  });

  it("caps the age at maxAgeMs whatever the page says", () => {
    const cache = new DiscoveryCache({ maxEntries: 10, maxAgeMs: 1_000 });
    cache.set("https://bob.example.com/", "https://pm.bob.example.net/", 86_400_000, 0);
    expect(cache.get("https://bob.example.com/", 999)).toBe("https://pm.bob.example.net/");
    expect(cache.get("https://bob.example.com/", 1_000)).toBeUndefined();
  });

  it("holds at most maxEntries, the least recently used going first", () => {
    const cache = new DiscoveryCache({ maxEntries: 2, maxAgeMs: 3_600_000 });
    cache.set("https://a.example/", "https://pm.a.example/", 60_000, 0);
    cache.set("https://b.example/", "https://pm.b.example/", 60_000, 0);
    expect(cache.get("https://a.example/", 1)).toBe("https://pm.a.example/"); // a is now the most recent
    cache.set("https://c.example/", "https://pm.c.example/", 60_000, 0);
    expect(cache.size).toBe(2);
    expect(cache.get("https://b.example/", 2)).toBeUndefined();
    expect(cache.get("https://a.example/", 2)).toBe("https://pm.a.example/");
    expect(cache.get("https://c.example/", 2)).toBe("https://pm.c.example/");
  });
});
