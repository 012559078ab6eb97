/**
 * The load balancer in front of several `indiepm serve` processes (issue 11), and a tap in
 * front of one: each forwards to its upstreams in turn and records every request it
 * answered (method, path, form body, status, when it began and ended), so a test can check
 * that every `deliver` a sender saw answered 2xx is stored, and how often one message was
 * delivered.
 *
 * Real nginx from Debian's packages where it is installed (`upstream` round robin), else a
 * small round-robin proxy in this file. Both pass a request to the next upstream only when
 * it could not be sent (connection refused: a killed process), never after it was sent,
 * whatever the method: nginx's default `proxy_next_upstream error timeout`, which since 1.9.13
 * does not resend a POST once sent. A federation POST answered by nobody becomes a 502,
 * which a sender retries (§6 Retries) and which cannot store a message twice (`deliver` of
 * a stored message is a `200 duplicate`); an owner's `POST /api/messages` resent after it
 * was sent could write the message twice. A process that refused a connection is left out
 * for `fail_timeout` (2 s) by nginx; there are no active health checks in open-source nginx.
 * Both end a request upstream when its client goes before the answer (nginx's default
 * `proxy_ignore_client_abort off`; a sender's time-out), logging it 499 when the client went:
 * a record spans the exchange as the sender had it.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { Agent, request as httpRequest, type ClientRequest, type IncomingMessage, type Server } from "node:http";
import { join } from "node:path";
import { closedPort, closeServer, listenLoopback } from "@indiepm/test-support";
import { createServer } from "node:http";

/** One request the proxy answered. */
export interface ProxyRecord {
  method: string;
  path: string;
  status: number;
  /** The request's form body (federation requests) as sent. */
  body: string;
  /** ms since the epoch. */
  start: number;
  end: number;
  /** The node proxy's: the client's port (one connection, so one sending process). */
  clientPort?: number;
}

export interface RoundRobinProxy {
  kind: "nginx" | "node";
  url: string;
  /** Every request answered so far, in the order they ended. */
  records(): Promise<ProxyRecord[]>;
  stop(): Promise<void>;
}

export const HAS_NGINX = spawnSync("nginx", ["-v"], { stdio: "ignore" }).status === 0;

/** nginx when installed (and not `preferNode`), else the proxy in this file. */
export async function startRoundRobin(upstreams: string[], dir: string, options: { preferNode?: boolean } = {}): Promise<RoundRobinProxy> {
  return HAS_NGINX && !options.preferNode ? startNginx(upstreams, dir) : startNodeProxy(upstreams);
}

/** One JSON line per request: what `records()` reads back. `$request_body` is kept because the body is read into memory before proxying. */
const LOG_FORMAT = `'{"method":"$request_method","path":"$request_uri","status":$status,"body":"$request_body","end":$msec,"time":$request_time}'`;

export async function startNginx(upstreams: string[], dir: string): Promise<RoundRobinProxy> {
  const port = await closedPort();
  const log = join(dir, "records.log");
  const servers = upstreams.map((u) => `    server ${new URL(u).host} max_fails=1 fail_timeout=2s;`).join("\n");
  const conf = `daemon off; master_process off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  log_format records escape=json ${LOG_FORMAT};
  access_log ${log} records;
  client_max_body_size 1m; client_body_buffer_size 1m; client_body_in_single_buffer on;
  upstream indiepm {
${servers}
    keepalive 32;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://indiepm;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_next_upstream error timeout;
      proxy_connect_timeout 2s;
      proxy_read_timeout 30s;
    }
  }
}
`;
  const confFile = join(dir, "nginx.conf");
  await writeFile(confFile, conf);
  await writeFile(log, "");
  const child: ChildProcess = spawn("nginx", ["-c", confFile, "-e", join(dir, "error.log")], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (c: Buffer) => (output += c));
  child.stderr!.on("data", (c: Buffer) => (output += c));
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited ${child.exitCode}: ${output}`);
    try {
      await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(1_000) });
      break;
    } catch {
      if (i > 100) throw new Error(`nginx did not listen on ${url}: ${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    kind: "nginx",
    url,
    records: async () =>
      (await readFile(log, "utf8"))
        .split("\n")
        .filter((line) => line !== "")
        .map((line) => {
          const r = JSON.parse(line) as { method: string; path: string; status: number; body: string; end: number; time: number };
          const end = Math.round(r.end * 1000);
          return { method: r.method, path: r.path, status: r.status, body: r.body, start: end - Math.round(r.time * 1000), end };
        }),
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** The round-robin proxy of the harness (also the tap in front of one process). */
export async function startNodeProxy(upstreams: string[]): Promise<RoundRobinProxy> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const records: ProxyRecord[] = [];
  let next = 0;
  const server: Server = createServer(async (req, res) => {
    const start = Date.now();
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const headers = { ...req.headers };
    headers["x-forwarded-for"] = [req.headers["x-forwarded-for"], req.socket.remoteAddress].filter(Boolean).join(", ");
    let answer: { status: number; headers: IncomingMessage["headers"]; body: Buffer } | undefined;
    // As nginx (proxy_ignore_client_abort off): a client that goes before its answer (its
    // time-out) ends the request upstream too, logged 499 when it went.
    let goneAt: number | undefined;
    let upstream: ClientRequest | undefined;
    res.once("close", () => {
      if (res.writableFinished) return;
      goneAt = Date.now();
      upstream?.destroy();
    });
    // Each upstream at most once, starting with the next in turn; on to the next only when nothing was sent.
    for (let tried = 0; tried < upstreams.length && !answer; tried++) {
      const target = new URL(req.url ?? "/", upstreams[next++ % upstreams.length]);
      try {
        answer = await new Promise((resolve, reject) => {
          const out = (upstream = httpRequest(target, { method: req.method, headers, agent }, (up) => {
            const parts: Buffer[] = [];
            up.on("data", (c: Buffer) => parts.push(c));
            up.on("end", () => resolve({ status: up.statusCode ?? 502, headers: up.headers, body: Buffer.concat(parts) }));
            up.on("error", reject);
          }));
          out.on("error", reject);
          out.end(body);
        });
      } catch (error) {
        if (goneAt !== undefined || (error as NodeJS.ErrnoException).code !== "ECONNREFUSED") break;
      }
    }
    const status = goneAt !== undefined ? 499 : (answer?.status ?? 502);
    if (answer) {
      const { connection: _c, "keep-alive": _k, "transfer-encoding": _t, ...passed } = answer.headers;
      res.writeHead(status, passed);
      res.end(answer.body);
    } else {
      res.writeHead(502, { "content-type": "text/plain" }).end("no upstream answered");
    }
    records.push({
      method: req.method ?? "GET",
      path: req.url ?? "/",
      status,
      body: body.toString("utf8"),
      start,
      end: goneAt ?? Date.now(),
      clientPort: req.socket.remotePort ?? 0,
    });
  });
  const url = await listenLoopback(server);
  return {
    kind: "node",
    url,
    records: async () => [...records],
    stop: async () => {
      await closeServer(server);
      agent.destroy();
    },
  };
}
