/**
 * Usage texts (`--help`) of every command. Kept apart from the commands, with no import
 * of the engine, so `--help` answers at once.
 */
import { DEFAULT_DATA_DIR, DEFAULT_GHOST_UPSTREAM, DEFAULT_HOST, DEFAULT_PM_UPSTREAM, DEFAULT_PORT, DEFAULT_SERVER } from "./defaults.js";

export const MAIN_USAGE = `Usage: indiepm COMMAND [options]

Private messages between personal websites (rel=pm).

Commands:
  serve       run a standalone pm server
  migrate     move a server's data folder into PostgreSQL
  discover    print the pm endpoint a site names
  send        write a message and deliver it
  inbox       list received messages
  outbox      list sent messages and their deliveries
  ghost       give a Ghost blog private messages: setup (the link), proxy (a snippet)

Client commands talk to a running server: --server URL (default env INDIEPM_SERVER,
else http://127.0.0.1:8080/) and the owner token in env INDIEPM_TOKEN (or --token).
Run \`indiepm COMMAND --help\` for a command's options.
`;

export const OWNER_OPTIONS_HELP = `  --server URL   the indiepm server (default: env INDIEPM_SERVER, else ${DEFAULT_SERVER})
  --token T      the owner token (default: env INDIEPM_TOKEN)
  --json         print one JSON document on stdout and nothing else there
  -h, --help     show this help`;

export const LIST_OPTIONS_HELP = `  --site SITE    only this site's messages
  --limit N      at most N messages
${OWNER_OPTIONS_HELP}`;

export const SERVE_USAGE = `Usage: indiepm serve [options]

Runs a standalone pm server. Its federation endpoint is the root URL (POST /); the owner
API is under api/. The owner token is env INDIEPM_TOKEN (with --dev one is made up and
printed on stderr). The first line on stdout is "indiepm listening on URL".
SIGTERM or SIGINT stops it: accepted requests get 10 s to finish, then it exits 0.

Options:
  --port N            port to listen on (default ${DEFAULT_PORT}; 0 picks a free port)
  --host H            address to listen on (default ${DEFAULT_HOST})
  --data DIR          where the embedded store keeps its files (default ./${DEFAULT_DATA_DIR})
  --database URL      keep all state in PostgreSQL instead (default: env INDIEPM_DATABASE_URL):
                      postgres://USER:PASSWORD@HOST:PORT/DB; tables are created or upgraded
                      at start; several servers (same --site and --public-url) may share
                      one database behind a load balancer polling GET /health
  --site URL          a site whose inbox and outbox this server holds; repeatable
  --public-url URL    the endpoint URL as the world sees it (default http://HOST:PORT/)
  --dev               development mode: allows http, ports and loopback/private addresses
  --trust-proxy VALUE the reverse proxies in front, whose X-Forwarded-For names the client
                      for the rate limits: a number of hops (1), or proxy addresses and
                      CIDR ranges, comma-separated (loopback = 127.0.0.1/8 and ::1);
                      default false (no proxy). true is refused: any client could then
                      choose its own address
  --config FILE       the same settings from a JSON file; flags win. Keys: port, host,
                      data (relative to the file), database, sites, publicUrl, dev, and the engine's
                      policies, defaultFlow, grantLifetimeSeconds, rateLimits, trustProxy
  -h, --help          show this help
`;

export const MIGRATE_USAGE = `Usage: indiepm migrate --data DIR --database URL

Copies everything a server keeps in its data folder (messages, deliveries still pending,
tokens, settings, sessions) into a PostgreSQL database, creating its tables if needed,
so the server can move to \`indiepm serve --database URL\`. Stop the server first: a
folder a running server holds is refused. One transaction: any error leaves the database
as it was. Running it again copies nothing (records already there are skipped). Prints
what it copied, per kind.

Options:
  --data DIR       the folder \`indiepm serve --data\` used (required)
  --database URL   postgres://USER:PASSWORD@HOST:PORT/DB (default: env INDIEPM_DATABASE_URL)
  -h, --help       show this help
`;

export const DISCOVER_USAGE = `Usage: indiepm discover [--dev] URL

Prints the pm endpoint of the site at URL (PROTOCOL.md §1) on the last line of stdout.
No endpoint, or any fetch error, exits 1 with the reason on stderr.

Options:
  --dev        development mode: allow http, IP addresses, loopback and private addresses
  -h, --help   show this help
`;

export const SEND_USAGE = `Usage: indiepm send --from SITE --to SITE [--to SITE…] [options] TEXT

Writes a message from SITE (one this server holds) and delivers it to each recipient.
With several --to, each recipient is shown the others, unless --hide-recipients.
Without --no-wait it waits for every delivery to end (at most --timeout seconds),
showing progress on stderr.

Options:
  --from SITE          the sending site (required)
  --to SITE            a recipient site (required; repeatable)
  --subject S          a subject line
  --reply-to ID        the message ID this answers
  --html H             an HTML version of TEXT (the receiver sanitizes it)
  --flow token|message token flow (default) or message flow (PROTOCOL.md §3/§4)
  --hide-recipients    each recipient sees only itself in \`to\`
  --no-wait            return once the server took the message
  --timeout SECONDS    how long to wait for the deliveries (default 60)
${OWNER_OPTIONS_HELP}

Exit status: 0 when every delivery ended as delivered (with --no-wait: when the server
took the message), 1 otherwise, 2 for a usage error.
--json prints {"message": ID, "deliveries": [{"recipient", "status", "error"?}]}.
`;

export const INBOX_USAGE = `Usage: indiepm inbox [--site SITE] [--limit N] [--json]

Lists received messages, newest arrival first. --json prints an array of objects with
message, sender, recipient, content, published (as received), receivedAt, and where
present name, contentHtml (sanitized), inReplyTo, to.

Options:
${LIST_OPTIONS_HELP}
`;

export const OUTBOX_USAGE = `Usage: indiepm outbox [--site SITE] [--limit N] [--json]

Lists sent messages, newest first, with where each delivery stands. --json prints an
array of objects with message, sender, content, published, and where present name,
contentHtml, inReplyTo, to, plus deliveries [{recipient, status, error?}].

Options:
${LIST_OPTIONS_HELP}
`;

export const GHOST_USAGE = `Usage: indiepm ghost setup --url GHOST_URL --staff-token TOKEN --endpoint PM_URL [options]
       indiepm ghost setup --url GHOST_URL --staff-token TOKEN --remove [options]
       indiepm ghost proxy --server nginx|caddy --site URL --pm-url URL [options]

Ghost has no server-side plugins, so the indiepm server runs beside Ghost.

setup puts <link rel="pm" href="PM_URL"> into Ghost's site-wide code injection
(Settings → Code injection → Site header) through the Admin API, keeping everything
already there; a second run changes nothing, a new endpoint replaces the old link.
Then it fetches the home page and runs discovery (PROTOCOL.md §1) to prove the link
is live. It needs a staff access token (Ghost Admin → Settings → Staff → your profile
→ Staff access token): Ghost lets an integration's Admin API key only read settings,
and given one, setup prints the snippet to paste by hand.

  --url URL            the Ghost site (its public URL)
  --staff-token TOKEN  ID:SECRET (default: env GHOST_STAFF_TOKEN)
  --endpoint URL       the pm endpoint the site names
  --remove             take the pm link out instead
  --dry-run            show the change; write nothing
  --admin-url URL      Ghost's admin address, where it is not the site URL
  --dev                allow http and loopback/private addresses (production: https only)
  --json               print {site, endpoint, action, changed, written, before, after,
                       proof: {url, endpoint, source}} on stdout

proxy prints a reverse-proxy snippet: the pm endpoint and the inbox (a path of the
blog such as https://blog.example/.pm/, or a subdomain such as https://pm.blog.example/)
go to the indiepm server, and Ghost's HTML answers get Link: <PM_URL>; rel="pm".

  --server nginx|caddy the reverse proxy in front of Ghost
  --site URL           the Ghost site (its public URL)
  --pm-url URL         the pm endpoint as the world sees it (ends with /)
  --upstream URL       the indiepm server (default ${DEFAULT_PM_UPSTREAM})
  --ghost URL          Ghost itself (default ${DEFAULT_GHOST_UPSTREAM})

  -h, --help           show this help
`;
