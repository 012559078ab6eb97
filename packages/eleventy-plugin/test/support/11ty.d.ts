/**
 * Eleventy 3 and the plugins of eleventy-base-blog ship JavaScript without types: what
 * the tests use of them. A plugin is `(eleventyConfig, options)`, as ours is.
 */
declare module "@11ty/eleventy" {
  type Plugin = (eleventyConfig: any, options?: any) => unknown;

  interface EleventyOptions {
    quietMode?: boolean;
    configPath?: string;
    pathPrefix?: string;
    config?: (eleventyConfig: any) => unknown;
  }

  export default class Eleventy {
    constructor(input: string, output: string, options?: EleventyOptions);
    disableLogger(): void;
    /** The pages Eleventy would write, transforms applied. */
    toJSON(): Promise<unknown[]>;
    write(): Promise<unknown>;
  }

  export const HtmlBasePlugin: Plugin;
  export const IdAttributePlugin: Plugin;
  export const InputPathToUrlTransformPlugin: Plugin;
}

declare module "@11ty/eleventy-img" {
  export const eleventyImageTransformPlugin: (eleventyConfig: any, options?: any) => unknown;
}

declare module "@11ty/eleventy-plugin-rss" {
  export const feedPlugin: (eleventyConfig: any, options?: any) => unknown;
}
