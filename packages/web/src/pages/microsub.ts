/**
 * The settings section "Read in a Microsub reader" (issue 13): the owner names a channel of
 * their Microsub server and lets indiepm post into it, by authorizing (IndieAuth, scope
 * create) or with the channel's API key; each new message then appears in their reader.
 * The key is never shown again: only its last 4 characters. Forms post to
 * settings/microsub/… (microsub.ts) and come back here by a redirect.
 */
import { MICROSUB_REFUSED, type MicrosubStatus } from "@indiepm/core";
import type { FlashData } from "../flash.js";
import { html, type Html } from "../html.js";
import { csrfField, siteLabel, timeTag, type Frame } from "../pages.js";
import { fieldError } from "./settings.js";

/** Plain words for why a push failed, by the engine's error code. */
export function microsubReason(code: string, detail = ""): string {
  const status = /answered (\d{3})\b/.exec(detail)?.[1];
  switch (code) {
    case "invalid_token":
      return MICROSUB_REFUSED;
    case "network_error":
      return "Nothing answered at the channel's address.";
    case "timeout":
      return "The channel took too long to answer.";
    case "address_refused":
      return "The channel's address may not be used (a private or local address, or not https).";
    case "rate_limited":
      return "The channel said it was busy and asked to be tried later.";
    case "expired":
      return "The channel kept failing, so that message was given up.";
    default:
      return `The channel answered with an error${status ? ` (${status})` : ""}.`;
  }
}

/** The endpoint as shown: host and path, never its query (Ekster's older channel URLs carry their key as `?source_id=`). */
function withoutQuery(url: string): string {
  const u = new URL(url);
  return siteLabel(`${u.origin}${u.pathname}`);
}

function status(s: MicrosubStatus): Html {
  const how = s.via === "indieauth" ? html`authorized${s.me ? html` as <strong>${siteLabel(s.me)}</strong>` : ""}` : html`with the API key`;
  const key = s.keyEnd ? html` ending in <code>${s.keyEnd}</code>` : "";
  const f = s.lastFailure;
  return html`<div class="microsub-status" id="microsub-status">
  <p>New messages are posted to <strong>${withoutQuery(s.micropub)}</strong>, ${how}${key}.</p>
  <p>${s.lastPushAt ? html`Last message posted ${timeTag(s.lastPushAt)}.` : "No message posted yet."}${s.pending > 0 ? ` ${s.pending} waiting.` : ""}</p>
  ${
    s.refusedAt
      ? html`<div class="last-failure" role="alert"><p><strong>${MICROSUB_REFUSED}</strong> Since ${timeTag(s.refusedAt)} nothing is posted there.</p>${
          f ? html`<details class="tech"><summary>Details</summary><p><code>${f.error}${f.detail ? `: ${f.detail}` : ""}</code></p></details>` : ""
        }</div>`
      : f
        ? html`<div class="last-failure"><p><strong>Last failure</strong> ${timeTag(f.at)}: ${microsubReason(f.error, f.detail)} ${
            f.state === "retrying" ? html`It is tried again${f.nextAttemptAt ? html` at ${timeTag(f.nextAttemptAt)}` : ""}.` : "That message was given up."
          }</p><details class="tech"><summary>Details</summary><p><code>${f.error}${f.detail ? `: ${f.detail}` : ""}</code> (${f.attempts} ${f.attempts === 1 ? "try" : "tries"})</p></details></div>`
        : ""
  }
</div>`;
}

/** The section, for the settings page. */
export function microsubSection(frame: Frame, s: MicrosubStatus | null | undefined, flash: FlashData | null | undefined): Html {
  const b = frame.base;
  const channel = fieldError(flash, "microsub", "channel", "microsub-channel", ["microsub-channel-hint"]);
  const key = fieldError(flash, "microsub", "key", "microsub-key", ["microsub-key-hint"]);
  return html`<section class="card" aria-labelledby="microsub-h">
  <h2 id="microsub-h">Read in a Microsub reader</h2>
  <p class="hint">Your messages can also appear in a channel of your Microsub server (Aperture, Ekster), so Monocle, Together or Indigenous show them beside what you follow. Each new message is posted there with who sent it and a link back here; reading it here still needs you to sign in.</p>
  ${s ? status(s) : ""}
  <form method="post" action="${b}settings/microsub/authorize">
    ${csrfField(frame)}
    <label for="microsub-channel">Channel address</label>
    <input id="microsub-channel" name="channel" type="url" inputmode="url" autocapitalize="off" spellcheck="false" required placeholder="https://aperture.example/channel" value="${channel.value ?? s?.me ?? (s && !new URL(s.micropub).search ? s.micropub : "")}"${channel.attrs}>
    ${channel.message}
    <p class="hint" id="microsub-channel-hint">To authorize: the channel's address, which apps sign in with. With an API key: the channel's Micropub endpoint.</p>
    <p class="row"><button type="submit">Authorize</button></p>
    <label for="microsub-key">API key <span class="optional">(instead of authorizing)</span></label>
    <input id="microsub-key" name="key" type="password" autocomplete="off" spellcheck="false"${key.attrs}>
    ${key.message}
    <p class="hint" id="microsub-key-hint">Paste the key your Microsub server shows for the channel. It is kept on this server and never shown again.</p>
    <p class="row"><button type="submit" formaction="${b}settings/microsub/key">Use this API key</button></p>
  </form>
  ${
    s
      ? html`<form method="post" action="${b}settings/microsub/remove">${csrfField(frame)}<button class="danger" type="submit">Remove<span class="visually-hidden"> the Microsub channel</span></button></form>`
      : ""
  }
</section>`;
}

/** The page between the Authorize button and the channel's authorization endpoint (a form may only post to this origin: CSP form-action). */
export function authorizeRedirectPage(frame: Pick<Frame, "base">, url: string): Html {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="0;url=${url}">
<title>Authorizing · indiepm</title><link rel="icon" href="${frame.base}static/icon.svg" type="image/svg+xml"><link rel="stylesheet" href="${frame.base}static/style.css"></head>
<body><main id="main" class="card narrow"><h1>Authorizing…</h1><p>Taking you to your Microsub server at <strong>${siteLabel(url)}</strong> to let indiepm post into the channel. <a href="${url}">Continue</a> if nothing happens.</p></main></body></html>`;
}
