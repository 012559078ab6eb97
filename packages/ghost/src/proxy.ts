/**
 * Reverse-proxy snippets for a self-hosted Ghost: the pm endpoint (and the inbox the
 * indiepm server serves beside it) on a path of the blog such as `/.pm/` or on a
 * subdomain, and `Link: <endpoint>; rel="pm"` (PROTOCOL.md §1 step 2) on Ghost's HTML
 * answers. The route Ghost's own ActivityPub service takes: its proxy sends
 * `/.ghost/activitypub/*` to a separate service.
 *
 * Pure: options in, text out. Options are checked once, here.
 */
import { pmLinkHeaderValue } from "@indiepm/protocol";
import { GhostError } from "./errors.js";

export const PROXY_SERVERS = ["nginx", "caddy"] as const;
export type ProxyServer = (typeof PROXY_SERVERS)[number];

/** Where the indiepm server and Ghost listen, by default (CLI.md `serve`, Ghost's own default). */
export const DEFAULT_PM_UPSTREAM = "http://127.0.0.1:8080";
export const DEFAULT_GHOST_UPSTREAM = "http://127.0.0.1:2368";

export interface ProxyOptions {
  server: ProxyServer;
  /** Ghost's public URL (its `url`), e.g. `https://blog.example/`. */
  siteUrl: string;
  /** The pm endpoint as the world sees it: `https://blog.example/.pm/` (path) or `https://pm.blog.example/` (subdomain). */
  pmUrl: string;
  /** The indiepm server (`indiepm serve --host/--port`); default `http://127.0.0.1:8080`. */
  pmUpstream?: string;
  /** Ghost itself; default `http://127.0.0.1:2368`. */
  ghostUpstream?: string;
}

/** How the pm endpoint sits beside Ghost. */
export interface ProxyLayout {
  /** `path`: under the blog's own host; `subdomain`: a host of its own. */
  mode: "path" | "subdomain";
  site: URL;
  pm: URL;
  /** The path routed to the indiepm server, ending in `/` (`/.pm/`, or `/` on a subdomain). */
  prefix: string;
  pmUpstream: URL;
  ghostUpstream: URL;
}

/** Ghost's own paths: a pm prefix under one of them would shadow part of Ghost. */
const GHOST_PATHS = ["/ghost/", "/content/", "/members/", "/assets/", "/public/", "/p/", "/email/", "/r/", "/webmentions/", "/.ghost/", "/.well-known/"];

/** Characters that would need quoting rules of their own in nginx or Caddy files (`$` is a variable, `{}` a placeholder). */
const UNSAFE = /[\s"'`\\${};<>]/;

function option(name: string, value: string, allowPath: boolean): URL {
  if (!URL.canParse(value)) throw new GhostError("invalid_option", `${name} must be an absolute http(s) URL, got ${JSON.stringify(value)}`);
  const url = new URL(value);
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new GhostError("invalid_option", `${name} must be an http(s) URL, got ${JSON.stringify(value)}`);
  if (url.username || url.password || url.search || url.hash)
    throw new GhostError("invalid_option", `${name} must have no user, query or fragment, got ${JSON.stringify(value)}`);
  if (!allowPath && url.pathname !== "/")
    throw new GhostError("invalid_option", `${name} must be an origin such as http://127.0.0.1:8080, got ${JSON.stringify(value)}`);
  if (UNSAFE.test(url.href)) throw new GhostError("invalid_option", `${name} has characters a proxy configuration cannot hold as they are: ${url.href}`);
  return url;
}

/** Checks the options and works out the layout. @throws GhostError `invalid_option`. */
export function proxyLayout(options: Omit<ProxyOptions, "server">): ProxyLayout {
  const site = option("the site URL", options.siteUrl, true);
  const pm = option("the pm URL", options.pmUrl, true);
  const pmUpstream = option("the indiepm server", options.pmUpstream ?? DEFAULT_PM_UPSTREAM, false);
  const ghostUpstream = option("Ghost's address", options.ghostUpstream ?? DEFAULT_GHOST_UPSTREAM, false);
  if (!pm.pathname.endsWith("/")) {
    throw new GhostError("invalid_option", `the pm URL must end with "/" (the indiepm server's pages sit below it), e.g. ${pm.origin}${pm.pathname}/`);
  }
  if (pm.host === site.host && pm.protocol === site.protocol) {
    if (pm.pathname === "/" || pm.pathname === site.pathname) {
      throw new GhostError(
        "invalid_option",
        `the pm URL cannot be the site itself; use a path such as ${site.origin}${site.pathname}.pm/ or a subdomain such as ${site.protocol}//pm.${site.host}/`,
      );
    }
    const clash = GHOST_PATHS.find((path) => pm.pathname.startsWith(path) || path.startsWith(pm.pathname));
    if (clash) throw new GhostError("invalid_option", `the pm path ${pm.pathname} overlaps Ghost's own ${clash}; use a path such as /.pm/`);
    return { mode: "path", site, pm, prefix: pm.pathname, pmUpstream, ghostUpstream };
  }
  if (pm.host === site.host) {
    throw new GhostError("invalid_option", `the pm URL and the site must share a scheme when they share a host (${pm.protocol} vs ${site.protocol})`);
  }
  return { mode: "subdomain", site, pm, prefix: pm.pathname, pmUpstream, ghostUpstream };
}

/** `Link: <endpoint>; rel="pm"`'s value (`@indiepm/protocol`'s, the one writer of it). */
export { pmLinkHeaderValue };

/** The reverse-proxy snippet for `options.server`. @throws GhostError `invalid_option`. */
export function proxySnippet(options: ProxyOptions): string {
  if (!(PROXY_SERVERS as readonly string[]).includes(options.server)) {
    throw new GhostError("invalid_option", `the server must be one of ${PROXY_SERVERS.join(", ")}, got ${JSON.stringify(options.server)}`);
  }
  const layout = proxyLayout(options);
  return options.server === "nginx" ? nginxSnippet(layout) : caddySnippet(layout);
}

function upstreamOrigin(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

/**
 * What `serve --trust-proxy` says (issue 9 item 11): on the same host, the proxy connects
 * from loopback; elsewhere it is the one hop in front. Without it every client would be
 * the proxy's address to the rate limits.
 */
function trustProxyValue(layout: ProxyLayout): string {
  const host = layout.pmUpstream.hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\./.test(host) ? "loopback" : "1";
}

function serveCommand(layout: ProxyLayout): string {
  const port = layout.pmUpstream.port || (layout.pmUpstream.protocol === "https:" ? "443" : "80");
  return `indiepm serve --site ${layout.site.href} --public-url ${layout.pm.href} --host ${layout.pmUpstream.hostname} --port ${port} --trust-proxy ${trustProxyValue(layout)}`;
}

/** The comment lines under the serve command: why `--trust-proxy`. */
function trustProxyNote(layout: ProxyLayout, how: string): string[] {
  return [
    `# (${how} X-Forwarded-For, and --trust-proxy ${trustProxyValue(layout)} has indiepm read the client's address from it,`,
    "#  so the rate limits count each client, not the proxy; without a proxy in front, leave it out.)",
  ];
}

function nginxListen(url: URL): string[] {
  const tls = url.protocol === "https:";
  const port = url.port || (tls ? "443" : "80");
  const lines = [`    listen ${port}${tls ? " ssl" : ""};`, `    listen [::]:${port}${tls ? " ssl" : ""};`, `    server_name ${url.hostname};`];
  if (tls) {
    lines.push(
      `    # The certificate of ${url.hostname} (certbot and ghost-cli keep theirs here):`,
      `    ssl_certificate     /etc/letsencrypt/live/${url.hostname}/fullchain.pem;`,
      `    ssl_certificate_key /etc/letsencrypt/live/${url.hostname}/privkey.pem;`,
    );
  }
  return lines;
}

function nginxPmLocation(layout: ProxyLayout, indent: string): string[] {
  // A URI on proxy_pass replaces the matched prefix, so the indiepm server sees /.
  const target = layout.prefix === "/" ? upstreamOrigin(layout.pmUpstream) : `${upstreamOrigin(layout.pmUpstream)}/`;
  return [
    `location ^~ ${layout.prefix} {`,
    `    proxy_pass ${target};`,
    "    proxy_set_header Host $http_host;",
    "    # The client's address, appended: indiepm serve --trust-proxy reads the rightmost entry.",
    "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
    "    proxy_set_header X-Forwarded-Proto $scheme;",
    "    # PROTOCOL.md §2: a request body is at most 256 KiB.",
    "    client_max_body_size 256k;",
    "}",
  ].map((line) => indent + line);
}

function nginxSnippet(layout: ProxyLayout): string {
  const link = pmLinkHeaderValue(layout.pm.href);
  const ghost = upstreamOrigin(layout.ghostUpstream);
  const out = [
    `# indiepm for the Ghost site ${layout.site.href} (generated by \`indiepm ghost proxy\`).`,
    `# The pm endpoint ${layout.pm.href} goes to the indiepm server at ${upstreamOrigin(layout.pmUpstream)}, started as`,
    `#   ${serveCommand(layout)}`,
    ...trustProxyNote(layout, "nginx sets"),
    `# and Ghost's HTML pages get the header Link: ${link}`,
    "",
    "# 1. In the http block (for example a file of its own in /etc/nginx/conf.d/): the Link",
    "#    header's value, set only when Ghost answers with an HTML page (nginx adds no",
    "#    header whose value is empty).",
    "map $upstream_http_content_type $indiepm_pm_link {",
    '    default "";',
    `    "~*^\\s*(text/html|application/xhtml\\+xml)\\s*(;|$)" '${link}';`,
    "}",
    "",
  ];
  if (layout.mode === "path") {
    out.push(
      `# 2. In the server block of ${layout.site.host} (ghost-cli writes it to`,
      `#    /etc/nginx/sites-available/${layout.site.hostname}${layout.site.protocol === "https:" ? "-ssl" : ""}.conf), beside Ghost's \`location /\`:`,
      ...nginxPmLocation(layout, ""),
      "",
    );
  } else {
    out.push(
      `# 2. A server block of its own for ${layout.pm.host} (point its DNS name at this machine):`,
      "server {",
      ...nginxListen(layout.pm),
      "",
      ...nginxPmLocation(layout, "    "),
      "}",
      "",
    );
  }
  out.push(
    `# 3. In the server block of ${layout.site.host}, Ghost's \`location ${layout.site.pathname} { … proxy_pass ${ghost}; }\``,
    "#    gets one line more. (nginx keeps the server block's own add_header lines only in",
    "#    locations that have none: copy any you have, HSTS for one, into this location too.)",
    `location ${layout.site.pathname} {`,
    "    # … Ghost's proxy_set_header lines as they are …",
    `    proxy_pass ${ghost};`,
    "    add_header Link $indiepm_pm_link always;",
    "}",
    "",
  );
  return out.join("\n");
}

function caddyAddress(url: URL): string {
  // An https site address needs only the host: Caddy gets and renews the certificate.
  if (url.protocol === "https:") return url.port ? `${url.hostname}:${url.port}` : url.hostname;
  return `http://${url.host}`;
}

function caddyString(value: string): string {
  return `"${value.replace(/"/g, '\\"')}"`;
}

function caddyGhostProxy(layout: ProxyLayout, indent: string): string[] {
  return [
    `reverse_proxy ${layout.ghostUpstream.host} {`,
    "    # Ghost's HTML answers get the Link header; copy_response sends Ghost's own headers and body.",
    "    @html header Content-Type text/html*",
    "    handle_response @html {",
    "        header {",
    `            +Link ${caddyString(pmLinkHeaderValue(layout.pm.href))}`,
    "            defer",
    "        }",
    "        copy_response",
    "    }",
    "}",
  ].map((line) => indent + line);
}

function caddySnippet(layout: ProxyLayout): string {
  const out = [
    `# indiepm for the Ghost site ${layout.site.href} (generated by \`indiepm ghost proxy\`).`,
    `# The pm endpoint ${layout.pm.href} goes to the indiepm server at ${upstreamOrigin(layout.pmUpstream)}, started as`,
    `#   ${serveCommand(layout)}`,
    ...trustProxyNote(layout, "Caddy's reverse_proxy sets"),
    `# and Ghost's HTML pages get the header Link: ${pmLinkHeaderValue(layout.pm.href)}`,
    "# In the Caddyfile, in place of the blog's site block:",
    "",
  ];
  if (layout.mode === "path") {
    out.push(
      `${caddyAddress(layout.site)} {`,
      `    # The pm endpoint and the inbox: ${layout.prefix} is taken off before the indiepm server sees the path.`,
      `    handle_path ${layout.prefix}* {`,
      `        reverse_proxy ${layout.pmUpstream.host}`,
      "    }",
      "    handle {",
      ...caddyGhostProxy(layout, "        "),
      "    }",
      "}",
      "",
    );
  } else {
    const pmRoute =
      layout.prefix === "/"
        ? [`    reverse_proxy ${layout.pmUpstream.host}`]
        : [`    handle_path ${layout.prefix}* {`, `        reverse_proxy ${layout.pmUpstream.host}`, "    }"];
    out.push(
      `# The pm endpoint and the inbox on a host of their own (point its DNS name at this machine):`,
      `${caddyAddress(layout.pm)} {`,
      ...pmRoute,
      "}",
      "",
      `${caddyAddress(layout.site)} {`,
      ...caddyGhostProxy(layout, "    "),
      "}",
      "",
    );
  }
  return out.join("\n");
}
