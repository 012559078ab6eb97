/**
 * CommonJS entry: `require("@indiepm/eleventy-plugin")` returns the plugin itself, as a
 * CommonJS Eleventy config expects (`eleventyConfig.addPlugin(require(...), {...})`).
 * It is the ESM build, loaded with require(esm) (Node 20.19+; the build has no top-level
 * await), so CommonJS and ESM configs share one module instance.
 */
"use strict";
const esm = require("./dist/index.js");
module.exports = esm.default;
