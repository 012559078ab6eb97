/**
 * Options are checked when Eleventy runs the plugin, before any page is built: one
 * sentence naming the option. Eleventy wraps the plugin's error in its own
 * (`EleventyPluginError`); the sentence is that error's `originalError.message`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import indiepm, { PmPluginError } from "../src/index.js";
import { isLoopbackHost, resolveOptions } from "../src/options.js";
import { buildError, buildJson, createSite, type Site } from "./support/sites.js";

let site: Site;
beforeAll(async () => {
  site = await createSite({ "index.html": "<!doctype html><head></head>" });
});
afterAll(async () => {
  await site.remove();
});

const P = "@indiepm/eleventy-plugin: ";

describe("a wrong option stops the build with one sentence naming it", () => {
  it.each([
    [
      "no options",
      undefined,
      `${P}option \`endpoint\` is required: the absolute URL of your pm endpoint, as in addPlugin(indiepm, { endpoint: "https://pm.example.com/" }).`,
    ],
    [
      "endpoint missing",
      { headers: true },
      `${P}option \`endpoint\` is required: the absolute URL of your pm endpoint, as in addPlugin(indiepm, { endpoint: "https://pm.example.com/" }).`,
    ],
    [
      "a URL string instead of options",
      "https://pm.example.com/",
      `${P}options must be an object such as { endpoint: "https://pm.example.com/" }, got "https://pm.example.com/".`,
    ],
    ["endpoint relative", { endpoint: "/pm" }, `${P}option \`endpoint\` must be an absolute http(s) URL such as "https://pm.example.com/", got "/pm".`],
    [
      "endpoint not http(s)",
      { endpoint: "mailto:alice@example.com" },
      `${P}option \`endpoint\` must be an absolute http(s) URL such as "https://pm.example.com/", got "mailto:alice@example.com".`,
    ],
    ["endpoint not a string", { endpoint: 42 }, `${P}option \`endpoint\` must be an absolute http(s) URL such as "https://pm.example.com/", got 42.`],
    [
      "endpoint with a password",
      { endpoint: "https://a:b@pm.example.com/" },
      `${P}option \`endpoint\` is refused: a URL with a user name or password is not allowed, got "https://a:b@pm.example.com/".`,
    ],
    [
      "endpoint with a fragment",
      { endpoint: "https://pm.example.com/#x" },
      `${P}option \`endpoint\` must not have a fragment, got "https://pm.example.com/#x".`,
    ],
    [
      "http on a host that is not loopback",
      { endpoint: "http://pm.example.com/" },
      `${P}option \`endpoint\` is http on pm.example.com, which is not loopback, and pm servers refuse http endpoints in production; use https, or set \`allowHttp: true\` while developing.`,
    ],
    [
      "an IP address that is not loopback",
      { endpoint: "https://203.0.113.7/" },
      `${P}option \`endpoint\` names the IP address 203.0.113.7, and pm servers accept only domain names in production; use a domain name, or set \`allowHttp: true\` while developing.`,
    ],
    ["a misspelt option", { endpoint: "https://pm.example.com/", header: true }, `${P}unknown option \`header\`; did you mean \`headers\`?`],
    [
      "an unknown option",
      { endpoint: "https://pm.example.com/", colour: "red" },
      `${P}unknown option \`colour\` (known options: \`endpoint\`, \`allowHttp\`, \`pages\`, \`replace\`, \`headers\`, \`globalData\`, \`shortcode\`).`,
    ],
    [
      "pages not a glob",
      { endpoint: "https://pm.example.com/", pages: 3 },
      `${P}option \`pages\` must be "all", "home", "none", or one or more globs of output paths such as "blog/**/*.html", got 3.`,
    ],
    [
      "pages an empty list",
      { endpoint: "https://pm.example.com/", pages: [] },
      `${P}option \`pages\` must be "all", "home", "none", or one or more globs of output paths such as "blog/**/*.html", got an array.`,
    ],
    [
      "shortcode not a name",
      { endpoint: "https://pm.example.com/", shortcode: "pm-link" },
      `${P}option \`shortcode\` must be true (for "pmLink"), false, or a shortcode name such as "pmLink" (letters, digits, _ and $), got "pm-link".`,
    ],
    [
      "globalData not a name",
      { endpoint: "https://pm.example.com/", globalData: 1 },
      `${P}option \`globalData\` must be true (for "pmEndpoint"), false, or a global data key such as "pmEndpoint" (letters, digits, _ and $), got 1.`,
    ],
    [
      "globalData an Eleventy key",
      { endpoint: "https://pm.example.com/", globalData: "eleventyComputed" },
      `${P}option \`globalData\` is "eleventyComputed", a data key Eleventy uses; choose another name such as "pmEndpoint".`,
    ],
    ["headers not a boolean", { endpoint: "https://pm.example.com/", headers: "yes" }, `${P}option \`headers\` must be true or false, got "yes".`],
  ])("%s", async (_name, options, message) => {
    const error = await buildError(site, { config: (eleventyConfig: any) => eleventyConfig.addPlugin(indiepm, options) });
    expect(error.name).toBe("EleventyPluginError");
    expect(error.originalError).toBeInstanceOf(PmPluginError);
    expect(error.originalError!.code).toBe("invalid_config");
    expect(error.originalError!.message).toBe(message);
  });
});

describe("accepted endpoints", () => {
  it.each([
    ["https on a domain", { endpoint: "https://pm.example.com" }, "https://pm.example.com/"],
    ["the canonical form is used", { endpoint: "HTTPS://PM.Example.COM:443/in?x=1" }, "https://pm.example.com/in?x=1"],
    ["http on loopback (development)", { endpoint: "http://127.0.0.1:4002/" }, "http://127.0.0.1:4002/"],
    ["http on localhost", { endpoint: "http://localhost:8080/pm" }, "http://localhost:8080/pm"],
    ["http elsewhere with allowHttp", { endpoint: "http://pm.lan.example/", allowHttp: true }, "http://pm.lan.example/"],
    ["an IP address with allowHttp", { endpoint: "http://192.168.1.5/", allowHttp: true }, "http://192.168.1.5/"],
  ])("%s", async (_name, options, endpoint) => {
    expect(resolveOptions(options).endpoint).toBe(endpoint);
    const [page] = await buildJson(site, { config: (eleventyConfig: any) => eleventyConfig.addPlugin(indiepm, options) });
    expect(page!.content).toContain(`<link rel="pm" href="${endpoint}">`);
  });

  it.each([
    ["localhost", true],
    ["app.localhost", true],
    ["127.0.0.1", true],
    ["127.10.0.1", true],
    ["[::1]", true],
    ["[::ffff:7f00:1]", true],
    ["128.0.0.1", false],
    ["[::2]", false],
    ["localhost.example.com", false],
  ])("loopback host %s: %s", (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });
});
