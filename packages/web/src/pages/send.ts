/**
 * What the compose and reply forms carry for sending (issue 12): the one-time key
 * (compose-keys.ts) with the name app.js keeps the form's draft under, and a refusal shown
 * next to the field it is about — plain sentences, the technical reason in a details line.
 */
import { MessageTooLargeError } from "@indiepm/core";
import { newComposeKey } from "../compose-keys.js";
import { html, type Html } from "../html.js";

/** A form's refusal for one field: sentences for people, and what was found, for the curious. */
export interface FieldError {
  messages: readonly string[];
  detail?: string;
}

/**
 * The hidden one-time key of a compose or reply form: `key` as posted (a form shown again),
 * else a new one. Its `data-draft` names the form's draft: app.js keeps what is typed in
 * the form under that name (per inbox and site) until it is sent.
 */
export function composeKeyField(key: string | undefined, draft: string): Html {
  return html`<input type="hidden" name="key" value="${key ?? newComposeKey()}" data-draft="${draft}">`;
}

/** The error of a field, to follow it (its input names `id` in `aria-describedby`). */
export function fieldError(id: string, error: FieldError | undefined): Html {
  if (!error) return html``;
  return html`<div class="field-error" id="${id}" role="alert">${error.messages.map((m) => html`<p>${m}</p>`)}${
    error.detail ? html`<details class="tech"><summary>Details</summary><p><code>${error.detail}</code></p></details>` : ""
  }</div>`;
}

/** The engine's refusal of a message (`PmError` from `PmServer.send`) in words for people: too long, a vouch page it cannot use; the rest as it is. */
export function sendRefusalSentence(error: { code: string; message: string }): string {
  if (error instanceof MessageTooLargeError) return error.message;
  if (error.code === "too_large") return "That message is too long: a message holds at most 64 KiB of text.";
  if (/^vouch\b/.test(error.message)) return "The vouch page cannot be used: write its whole address, starting with https://.";
  return error.message;
}
