/**
 * How a command ends when it cannot do its work (CLI.md): a usage error exits 2, every
 * other error 1, each with one sentence on stderr and never a stack.
 */

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/**
 * A failure the command explains itself: `message` is the one sentence shown. The one
 * error type of `@indiepm/cli`; another package's error that crosses in is its `cause`.
 */
export class CliError extends Error {
  override name = "CliError";
  /** The §2 error code the server answered with (`invalid_token`, `invalid_request`…), when it refused. */
  readonly serverCode: string | undefined;
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
    options?: { cause?: unknown; serverCode?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.serverCode = options?.serverCode;
  }
}

/** A usage error (exit 2): a wrong flag, a missing argument, a bad setting. */
export function usageError(message: string, options?: { cause?: unknown }): CliError {
  return new CliError(message, EXIT_USAGE, options);
}

/** The sentence to show for any thrown value: its message, ending in a full stop. */
export function sentence(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const oneLine = text.replace(/\s*\n\s*/g, " ").trim() || "unexpected failure";
  return /[.!?]$/.test(oneLine) ? oneLine : `${oneLine}.`;
}
