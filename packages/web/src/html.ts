/**
 * Escaped-by-default HTML templates: every value interpolated into `html\`…\`` is
 * escaped unless it is itself `Html` (made by `html` or, for markup that is already
 * safe — the engine's sanitized `content-html` — by `trusted`). Arrays are joined.
 * `undefined`, `null` and `false` render as nothing, so `${cond && html\`…\`}` works.
 */

export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;", "`": "&#96;" };

/** Escapes text for an element's content or a quoted attribute value. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ESCAPES[c]!);
}

export type Part = Html | string | number | boolean | null | undefined | readonly Part[];

function render(part: Part): string {
  if (part === null || part === undefined || part === false || part === true) return "";
  if (part instanceof Html) return part.value;
  if (Array.isArray(part)) return part.map(render).join("");
  return escapeHtml(String(part));
}

export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** Markup that is safe by construction (sanitized by the engine). Never for anything a person typed. */
export function trusted(markup: string): Html {
  return new Html(markup);
}
