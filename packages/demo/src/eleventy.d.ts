/**
 * The part of Eleventy's programmatic API the demo uses (`@11ty/eleventy` 3 ships no
 * TypeScript declarations for its main entry).
 */
declare module "@11ty/eleventy" {
  interface EleventyUserConfig {
    addPlugin(plugin: unknown, options?: unknown): unknown;
  }
  interface EleventyOptions {
    quietMode?: boolean;
    configPath?: string;
    pathPrefix?: string;
    config?: (eleventyConfig: EleventyUserConfig) => unknown;
  }
  export default class Eleventy {
    constructor(input?: string, output?: string, options?: EleventyOptions);
    /** Silences Eleventy's own console output, "Wrote … files" included. */
    disableLogger(): void;
    write(): Promise<unknown>;
    toJSON(): Promise<unknown[]>;
  }
}
