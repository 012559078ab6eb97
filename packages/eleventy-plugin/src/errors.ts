/**
 * The one error type of `@indiepm/eleventy-plugin` (STYLE.md practice 4). Eleventy wraps
 * whatever a plugin throws in its own `EleventyPluginError`; ours is that error's
 * `originalError`, and its message is the sentence the site owner needs.
 */

/**
 * - `invalid_config`: an option is wrong (thrown while Eleventy loads the config, before
 *   any page is built). The name is the core's local code of the same meaning.
 * - `headers_failed`: the `_headers` file in the output folder could not be read or written.
 */
export type PluginErrorCode = "invalid_config" | "headers_failed";

export class PmPluginError extends Error {
  override name = "PmPluginError";
  readonly code: PluginErrorCode;

  constructor(code: PluginErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}
