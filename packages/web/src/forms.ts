/**
 * The owner's forms: read (`application/x-www-form-urlencoded`, size-limited) and checked
 * against cross-site requests — the request's own `Sec-Fetch-Site`/`Origin` first, then
 * the synchronizer token the form carries (`csrf`). A refused form answers at once
 * (`HttpAnswer`: 415, 413, 403).
 */
import { BODY_LIMITS } from "@indiepm/core";
import { messagePage } from "./pages.js";
import { HttpAnswer, page } from "./responses.js";
import { sameOriginRequest, sameSecret } from "./security.js";

/** Forms: a message's 64 KiB of text, its HTML, and room for the rest (core's one table of body limits). */
export const MAX_FORM_BYTES = BODY_LIMITS.webForm;

export interface Forms {
  /** The form's fields. @throws HttpAnswer 415 (not a form), 413 (too large). */
  read(request: Request): Promise<URLSearchParams>;
  /** Reads the form and checks it came from the inbox's own pages with `token`. @throws HttpAnswer 403 */
  readChecked(request: Request, token: string): Promise<URLSearchParams>;
  /** Whether the request comes from the inbox's own origin and `sent` is `expected` (constant time). */
  fromOwnPage(request: Request, sent: string, expected: string | undefined): boolean;
  /** @throws HttpAnswer 403, "cross-site request refused". */
  refuseCrossSite(): never;
}

export function createForms(inbox: { base: string; origin: string }): Forms {
  const { base, origin } = inbox;
  const tooLarge = () => new HttpAnswer(page(messagePage({ base }, "Too large", "That is more than a message may hold (64 KiB of text)."), 413));

  async function read(request: Request): Promise<URLSearchParams> {
    const type = request.headers.get("content-type") ?? "";
    if (!/^application\/x-www-form-urlencoded\b/i.test(type)) {
      throw new HttpAnswer(page(messagePage({ base }, "Not a form", "This address takes a form from the inbox's own pages."), 415));
    }
    const declared = Number(request.headers.get("content-length") ?? NaN);
    if (declared > MAX_FORM_BYTES) throw tooLarge();
    const body = await request.arrayBuffer();
    if (body.byteLength > MAX_FORM_BYTES) throw tooLarge();
    return new URLSearchParams(new TextDecoder().decode(body));
  }

  function refuseCrossSite(): never {
    throw new HttpAnswer(
      page(
        messagePage(
          { base },
          "Refused",
          "This form did not come from your inbox's own pages (cross-site request refused). Go back, reload the page and try again.",
          { href: base, label: "Back to the inbox" },
        ),
        403,
      ),
    );
  }

  function fromOwnPage(request: Request, sent: string, expected: string | undefined): boolean {
    return sameOriginRequest(request, origin) && !!expected && !!sent && sameSecret(sent, expected);
  }

  return {
    read,
    refuseCrossSite,
    fromOwnPage,
    async readChecked(request, token) {
      const form = await read(request);
      if (!fromOwnPage(request, form.get("csrf") ?? "", token)) refuseCrossSite();
      return form;
    },
  };
}
