/**
 * What a command may touch of the outside world, so `main()` runs the same in the
 * real process and in-process in tests.
 */

export interface Io {
  /** Writes to standard output as is (callers add the newline). */
  stdout(text: string): void;
  /** Writes to standard error as is (callers add the newline). */
  stderr(text: string): void;
  env: Record<string, string | undefined>;
  /** Folder relative paths are resolved against. */
  cwd: string;
  /**
   * Resolves on the first SIGTERM or SIGINT (`serve` stops then). Tests pass their own
   * promise instead of sending signals.
   */
  stopSignal?: () => Promise<string>;
}

/** The real process: its streams, environment, folder and signals. */
export function processIo(): Io {
  return {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    env: process.env,
    cwd: process.cwd(),
  };
}
