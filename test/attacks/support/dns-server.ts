/**
 * A DNS server on 127.0.0.1 for tests of name resolution (RFC 1035 §4, UDP only): it
 * answers A and AAAA questions from a table the test owns, NXDOMAIN for names it does not
 * know, or — in `silent` mode — never answers at all, as an attacker's name server that
 * lets lookups hang. It records every question, so a test can tell its resolver asked.
 */
import { createSocket, type Socket } from "node:dgram";
import type { AddressInfo } from "node:net";

export interface DnsQuestion {
  name: string;
  /** 1 = A, 28 = AAAA. */
  type: number;
  at: number;
}

export interface TestDnsServer {
  /** `127.0.0.1:PORT`, for `createHttpClient({ dnsServers: [server.address] })`. */
  address: string;
  questions: DnsQuestion[];
  /** Names and their addresses (IPv4 dotted, IPv6 with colons). */
  names: Map<string, string[]>;
  /** When true (or true for the name asked), nothing is answered. */
  silent: boolean | ((name: string) => boolean);
  close(): Promise<void>;
}

const A = 1;
const AAAA = 28;

export async function startDnsServer(options: { silent?: TestDnsServer["silent"] } = {}): Promise<TestDnsServer> {
  const socket: Socket = createSocket("udp4");
  const self: TestDnsServer = {
    address: "",
    questions: [],
    names: new Map(),
    silent: options.silent ?? false,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
  socket.on("message", (query, peer) => {
    const question = parseQuestion(query);
    if (!question) return;
    self.questions.push({ name: question.name, type: question.type, at: Date.now() });
    if (self.silent === true || (typeof self.silent === "function" && self.silent(question.name))) return;
    const known = self.names.get(question.name.toLowerCase());
    const records = (known ?? []).filter((a) => (question.type === AAAA ? a.includes(":") : question.type === A && !a.includes(":")));
    socket.send(answer(query, question.end, known === undefined ? 3 : 0, question.type, records), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  self.address = `127.0.0.1:${(socket.address() as AddressInfo).port}`;
  return self;
}

/** The first question of a query: its name, type and where the question section ends. */
function parseQuestion(query: Buffer): { name: string; type: number; end: number } | undefined {
  if (query.length < 12 || query.readUInt16BE(4) < 1) return undefined;
  const labels: string[] = [];
  let offset = 12;
  while (offset < query.length) {
    const length = query[offset]!;
    offset++;
    if (length === 0) break;
    labels.push(query.subarray(offset, offset + length).toString("latin1"));
    offset += length;
  }
  if (offset + 4 > query.length) return undefined;
  return { name: labels.join("."), type: query.readUInt16BE(offset), end: offset + 4 };
}

/** A response: the query's ID and question, `rcode`, and one record per address. */
function answer(query: Buffer, questionEnd: number, rcode: number, type: number, addresses: string[]): Buffer {
  const header = Buffer.alloc(12);
  query.copy(header, 0, 0, 2); // ID
  header.writeUInt16BE(0x8180 | rcode, 2); // QR, RD, RA
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(addresses.length, 6);
  const records = addresses.map((address) => {
    const data = type === A ? Buffer.from(address.split(".").map(Number)) : ipv6Bytes(address);
    const record = Buffer.alloc(12);
    record.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    record.writeUInt16BE(type, 2);
    record.writeUInt16BE(1, 4); // IN
    record.writeUInt32BE(60, 6);
    record.writeUInt16BE(data.length, 10);
    return Buffer.concat([record, data]);
  });
  return Buffer.concat([header, query.subarray(12, questionEnd), ...records]);
}

function ipv6Bytes(address: string): Buffer {
  const [head = "", tail = ""] = address.split("::");
  const groups = (s: string) => (s === "" ? [] : s.split(":").map((g) => parseInt(g, 16)));
  const h = groups(head);
  const t = groups(tail);
  const all = address.includes("::") ? [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t] : h;
  const out = Buffer.alloc(16);
  for (const [i, g] of all.entries()) out.writeUInt16BE(g, i * 2);
  return out;
}
