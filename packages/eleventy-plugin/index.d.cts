// Types of the CommonJS entry (index.cjs): the plugin function itself.
declare const indiepm: typeof import("./dist/index.js").default;
export = indiepm;
