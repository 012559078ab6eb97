/** Prints protocol steps as the seed's diagram names them: step, from → to, action, status. */
import type { ProtocolEvent } from "@indiepm/core";

export class Tracer {
  readonly #names = new Map<string, string>();
  readonly #out: (line: string) => void;

  constructor(out: (line: string) => void) {
    this.#out = out;
  }

  /** Shows `url`'s host as `name` (the seed's host names). */
  name(url: string, name: string): void {
    this.#names.set(new URL(url).host, name);
  }

  /** The seed's name of a URL's host, or the host. */
  label(url: string): string {
    return this.#label(url);
  }

  #label(url: string): string {
    return this.#names.get(new URL(url).host) ?? new URL(url).host;
  }

  print(e: ProtocolEvent): void {
    const what = e.action === "discover" ? "GET, looks for rel=pm" : `POST action=${e.action}`;
    const status = typeof e.status === "number" ? String(e.status) : `error ${e.status}`;
    const detail =
      e.action === "discover" && e.detail
        ? `  (${e.detail.replace(/https?:\/\/[^\s)]+/g, (u) => this.#label(u))})`
        : e.detail && typeof e.status !== "number"
          ? `  (${e.detail})`
          : "";
    this.#out(
      `  ${e.flow === "message" ? "§3" : "§4"} step ${e.step}  ${this.#label(e.from).padEnd(19)} → ${this.#label(e.to).padEnd(19)} ${what.padEnd(22)} ${status}${detail}`,
    );
  }
}
