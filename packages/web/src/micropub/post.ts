/**
 * A Micropub create request read as a private message (issue 13; W3C Micropub §3.3 Create,
 * form-encoded and JSON syntax), before anything is looked up: pure, data in and data out.
 * Only `h=entry` creates: an update, a delete or another post type is refused, as is any
 * `visibility` other than `private` — nothing sent through here is ever published.
 *
 * What the request says is kept as the apps send it (Quill's note form: `content`,
 * `in-reply-to`, `category[]`, `mp-syndicate-to[]`, `visibility`; micropub-helper and
 * Indigenous: the JSON `{type: ["h-entry"], properties}`); who the recipients are is
 * decided by endpoint.ts, which knows the contacts and the threads.
 */

/** A create, as the request names it. */
export interface MicropubCreate {
  /** `mp-syndicate-to` values: the `uid`s of `q=config`'s `syndicate-to` (contacts' site URLs). */
  syndicateTo: string[];
  /** URL values of `category` (person tags) and `audience`: people named directly. */
  people: string[];
  /** `in-reply-to`: a message ID, or the URL of a thread in the web inbox. */
  inReplyTo?: string;
  /** `name`: the subject. */
  subject?: string;
  /** `content` as text, or the text of its `html`. */
  content: string;
  /** `content`'s `html`, when given. */
  html?: string;
}

/** A request refused before any lookup: Micropub's `invalid_request` (§3.8), with a sentence. */
export interface MicropubRefusal {
  error: "invalid_request";
  description: string;
  /** 400, or 415 for a body that is neither a form nor JSON. */
  status: 400 | 415;
}

export type ParsedPost = { ok: true; create: MicropubCreate; accessToken?: string } | { ok: false; refusal: MicropubRefusal };

const refuse = (description: string, status: 400 | 415 = 400): ParsedPost => ({ ok: false, refusal: { error: "invalid_request", description, status } });

/** What Micropub apps may send that a private message has no place for: refused rather than silently dropped. */
const MEDIA = ["photo", "video", "audio"] as const;

/** Properties with a meaning here; any other is ignored, as Micropub §3.3 lets a server do (`mp-slug`, `location`, `published`…). */
type Values = Map<string, unknown[]>;

/**
 * Reads a create from the request body. `contentType` is the request's header; `body` its
 * text (already within the size limit).
 */
export function parseMicropubPost(contentType: string, body: string): ParsedPost {
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  if (type === "application/x-www-form-urlencoded") return fromValues(formValues(new URLSearchParams(body)), "form");
  if (type === "application/json") {
    let doc: unknown;
    try {
      doc = JSON.parse(body);
    } catch {
      return refuse("The body is not valid JSON.");
    }
    return fromJson(doc);
  }
  if (type === "multipart/form-data") return refuse("Photos and files cannot be sent in a private message: send text only (a form or JSON request).", 415);
  return refuse("Send the post as a form (application/x-www-form-urlencoded) or as JSON (application/json).", 415);
}

/** Form fields by property name: `category[]` and `category` are one property; `content[html]` is `content`'s HTML. */
function formValues(form: URLSearchParams): Values {
  const values: Values = new Map();
  for (const [key, value] of form) {
    const html = /^content\[html\]$/.exec(key);
    const name = html ? "content" : key.replace(/\[\]$/, "");
    const list = values.get(name) ?? [];
    list.push(html ? { html: value } : value);
    values.set(name, list);
  }
  return values;
}

function fromJson(doc: unknown): ParsedPost {
  if (!isObject(doc)) return refuse('The JSON body must be an object: {"type": ["h-entry"], "properties": {…}}.');
  if (doc.action !== undefined) return refuse(actionSentence(doc.action));
  const types = doc.type === undefined ? ["h-entry"] : Array.isArray(doc.type) ? doc.type : [doc.type];
  if (types.length !== 1 || types[0] !== "h-entry") return refuse(`Only h-entry posts can be sent as private messages, not ${describe(types[0])}.`);
  if (doc.properties !== undefined && !isObject(doc.properties)) return refuse("properties must be an object of arrays.");
  const values: Values = new Map();
  for (const [name, value] of Object.entries(doc.properties ?? {})) values.set(name, Array.isArray(value) ? value : [value]);
  return fromValues(values, "json");
}

function fromValues(values: Values, syntax: "form" | "json"): ParsedPost {
  let accessToken: string | undefined;
  if (syntax === "form") {
    const action = one(values, "action");
    if (action !== undefined) return refuse(actionSentence(action));
    // Micropub §3.3: "If no type is specified, the default type h-entry SHOULD be used."
    const h = one(values, "h") ?? "entry";
    if (h !== "entry") return refuse(`Only h-entry posts can be sent as private messages, not h-${describe(h)}.`);
    const token = values.get("access_token");
    if (token && (token.length > 1 || typeof token[0] !== "string")) return refuse("access_token is given more than once.");
    accessToken = token?.[0] as string | undefined;
  }
  for (const media of MEDIA) {
    if (values.has(media)) return refuse(`Private messages carry text only: the ${media} cannot be sent. Remove it and send again.`);
  }
  const visibility = values.get("visibility");
  if (visibility && (visibility.length !== 1 || visibility[0] !== "private")) {
    return refuse(`Everything sent here is a private message: visibility must be "private", not ${describe(visibility[0])}. Nothing was published.`);
  }
  // Quill's and Indiekit's draft (post-status, a Micropub extension): a message goes to its people at once, so a draft is not sent.
  const status = values.get("post-status");
  if (status && (status.length !== 1 || status[0] !== "published")) {
    return refuse("Drafts are not kept here: a post is sent to the people it names at once, so send it when it is ready. Nothing was sent.");
  }

  const content = values.get("content") ?? [];
  if (content.length > 1) return refuse("content is given more than once.");
  let text = "";
  let html: string | undefined;
  const c = content[0];
  if (typeof c === "string") text = c;
  else if (isObject(c) && (typeof c.html === "string" || typeof c.value === "string")) {
    if (c.html !== undefined && typeof c.html !== "string") return refuse("content's html must be text.");
    html = typeof c.html === "string" && c.html.trim() !== "" ? c.html : undefined;
    text = typeof c.value === "string" && c.value.trim() !== "" ? c.value : html !== undefined ? textOfHtml(html) : "";
  } else if (c !== undefined) return refuse('content must be text, or {"html": "…"}.');
  if (text.trim() === "") return refuse("The message is empty: write something in content.");

  const subject = values.get("name") ?? [];
  if (subject.length > 1 || (subject[0] !== undefined && typeof subject[0] !== "string")) return refuse("name (the subject) must be one piece of text.");

  const inReplyTo = values.get("in-reply-to") ?? [];
  if (inReplyTo.length > 1) return refuse("in-reply-to names more than one message: a private message answers one.");
  const parent = inReplyTo[0] === undefined ? undefined : urlOf(inReplyTo[0]);
  if (inReplyTo[0] !== undefined && parent === undefined) return refuse("in-reply-to must be the URL of a message.");

  const syndicateTo: string[] = [];
  for (const name of ["mp-syndicate-to", "syndicate-to"]) {
    for (const v of values.get(name) ?? []) {
      if (typeof v !== "string") return refuse(`${name} values must be the uids q=config lists.`);
      syndicateTo.push(v);
    }
  }
  // Person tags: `category` values that are URLs (a plain tag like "lunch" names nobody), or h-cards with a URL (JSON).
  const people: string[] = [];
  for (const v of values.get("category") ?? []) {
    const url = urlOf(v);
    if (url !== undefined) people.push(url);
  }
  for (const v of values.get("audience") ?? []) {
    const url = urlOf(v);
    if (url === undefined) return refuse("audience values must be the URLs of people's sites.");
    people.push(url);
  }

  const subjectText = typeof subject[0] === "string" ? subject[0].trim() : "";
  return {
    ok: true,
    create: {
      syndicateTo,
      people,
      ...(parent !== undefined ? { inReplyTo: parent } : {}),
      ...(subjectText ? { subject: subjectText } : {}),
      content: text,
      ...(html !== undefined ? { html } : {}),
    },
    ...(accessToken !== undefined ? { accessToken } : {}),
  };
}

function one(values: Values, name: string): string | undefined {
  const v = values.get(name);
  return v && typeof v[0] === "string" ? v[0] : v ? "" : undefined;
}

function actionSentence(action: unknown): string {
  const what = typeof action === "string" ? action : "";
  if (what === "update" || what === "delete" || what === "undelete") {
    return `A private message cannot be changed once sent: ${what} is not supported here. Only new posts (h=entry) are sent.`;
  }
  return `Unknown action ${describe(action)}: only new posts (h=entry) are sent here.`;
}

/** A URL value: a string starting with http(s)://, or a JSON h-card's first `url`. */
function urlOf(value: unknown): string | undefined {
  if (typeof value === "string") return /^https?:\/\//i.test(value.trim()) && URL.canParse(value.trim()) ? value.trim() : undefined;
  if (isObject(value) && isObject(value.properties) && Array.isArray(value.properties.url)) return urlOf(value.properties.url[0]);
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A value quoted in a sentence: at most 40 characters. */
function describe(value: unknown): string {
  let text: string;
  try {
    text = typeof value === "string" ? value : (JSON.stringify(value) ?? String(value));
  } catch {
    // Nested past the stack (a JSON body may be 10,000s of arrays deep): named by its kind.
    text = Array.isArray(value) ? "[…]" : "{…}";
  }
  return `“${text.length > 40 ? `${text.slice(0, 39)}…` : text}”`;
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: " " };

/**
 * The plain text of `content`'s HTML when no `value` came with it (every message carries
 * text; the HTML is its formatted version, as the web compose's two fields): block ends
 * become line breaks, tags go, entities are decoded. Only ever shown escaped. Read before
 * the token is checked, so in time linear in its length whatever it holds: no pattern
 * here is tried again from each of a long run of `<`, `<script` or spaces (the spaces
 * before a line end are matched from the first of a run only).
 */
export function textOfHtml(html: string): string {
  const lines = withoutScripts(html)
    .replace(/<br\s*\/?>/gi, "\n")
    .replace(/<\/(p|div|li|h[1-6]|blockquote|pre|tr)\s*>/gi, "\n");
  return withoutTags(lines)
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
      if (name[0] === "#") {
        const code = name[1] === "x" || name[1] === "X" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
        return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
      }
      return ENTITIES[name.toLowerCase()] ?? whole;
    })
    .replace(/(?<![ \t])[ \t]+\n/g, "\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

/** `<script>…</script>` and `<style>…</style>` gone with what they hold; one never closed is left to `withoutTags`. Once an end tag is not found, none is looked for again. */
function withoutScripts(html: string): string {
  const open = /<(script|style)\b/gi;
  const unclosed = new Set<string>();
  let text = "";
  let at = 0;
  for (let m = open.exec(html); m !== null; m = open.exec(html)) {
    const name = m[1]!.toLowerCase();
    if (unclosed.has(name)) continue;
    const close = new RegExp(`<\\/${name}\\s*>`, "gi");
    close.lastIndex = open.lastIndex;
    const end = close.exec(html);
    if (end === null) {
      unclosed.add(name);
      continue;
    }
    text += html.slice(at, m.index);
    at = open.lastIndex = end.index + end[0].length;
  }
  return text + html.slice(at);
}

/** Every `<…>` gone; a `<` with no `>` after it, and what follows, kept. */
function withoutTags(html: string): string {
  let text = "";
  let at = 0;
  for (let open = html.indexOf("<"); open !== -1; open = html.indexOf("<", at)) {
    const close = html.indexOf(">", open);
    if (close === -1) break;
    text += html.slice(at, open);
    at = close + 1;
  }
  return text + html.slice(at);
}
