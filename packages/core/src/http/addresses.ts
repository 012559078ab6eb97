/**
 * PROTOCOL.md §6 "Outgoing requests": which IP addresses a production server refuses
 * to connect to. Pure functions of a string; the connector in `client.ts` applies them
 * to every address DNS gives, and to IP-literal hosts, before a socket is opened.
 *
 * The refused set is the IANA special-purpose registries' "not globally reachable"
 * blocks (RFC 6890 and successors): §6 names loopback, private, link-local,
 * unique-local, multicast and unspecified; CGNAT, broadcast, reserved, documentation
 * and benchmarking blocks are refused for the same reason (they reach no public site
 * but may reach something inside). IPv6 forms that carry an IPv4 address (mapped,
 * compatible, NAT64, 6to4, Teredo) are judged by the IPv4 address they carry.
 */

interface Block {
  /** Network address (IPv4 as an unsigned 32-bit number, IPv6 as a 128-bit bigint). */
  base: bigint;
  bits: number;
  cidr: string;
  reason: string;
}

/** Blocks whose addresses carry an IPv4 address; `embedded` extracts it. */
interface CarrierBlock extends Omit<Block, "reason"> {
  name: string;
  embedded: (ip: bigint) => number;
}

function v4Block(cidr: string, reason: string): Block {
  const [address = "", bits = ""] = cidr.split("/");
  return { base: BigInt(parseDottedQuad(address) ?? 0), bits: Number(bits), cidr, reason };
}

function v6Block(cidr: string, reason: string): Block {
  const [address = "", bits = ""] = cidr.split("/");
  return { base: ipv6ToBigInt(parseIpv6Groups(address) ?? []), bits: Number(bits), cidr, reason };
}

// Order matters only for the reason given: the first block that holds an address names it.
const IPV4_REFUSED: readonly Block[] = [
  v4Block("0.0.0.0/8", "unspecified (\"this network\")"),
  v4Block("10.0.0.0/8", "private"),
  v4Block("100.64.0.0/10", "shared address space (CGNAT)"),
  v4Block("127.0.0.0/8", "loopback"),
  v4Block("169.254.0.0/16", "link-local"),
  v4Block("172.16.0.0/12", "private"),
  v4Block("192.0.0.0/24", "IETF protocol assignments"),
  v4Block("192.0.2.0/24", "documentation (TEST-NET-1)"),
  v4Block("192.168.0.0/16", "private"),
  v4Block("198.18.0.0/15", "benchmarking"),
  v4Block("198.51.100.0/24", "documentation (TEST-NET-2)"),
  v4Block("203.0.113.0/24", "documentation (TEST-NET-3)"),
  v4Block("224.0.0.0/4", "multicast"),
  v4Block("255.255.255.255/32", "broadcast"),
  v4Block("240.0.0.0/4", "reserved"),
];

const IPV6_REFUSED: readonly Block[] = [
  v6Block("::/128", "unspecified"),
  v6Block("::1/128", "loopback"),
  v6Block("64:ff9b:1::/48", "local-use NAT64"),
  v6Block("100::/64", "discard-only"),
  v6Block("2001:2::/48", "benchmarking"),
  v6Block("2001:db8::/32", "documentation"),
  v6Block("fc00::/7", "unique-local"),
  v6Block("fe80::/10", "link-local"),
  v6Block("fec0::/10", "site-local (deprecated)"),
  v6Block("ff00::/8", "multicast"),
];

const LOW32 = (ip: bigint): number => Number(ip & 0xffff_ffffn);

// Checked after IPV6_REFUSED, so `::` and `::1` are not read as IPv4-compatible.
const IPV6_CARRIERS: readonly CarrierBlock[] = [
  { ...v6Block("::ffff:0:0/96", ""), name: "IPv4-mapped", embedded: LOW32 },
  { ...v6Block("::ffff:0:0:0/96", ""), name: "IPv4-translated", embedded: LOW32 },
  { ...v6Block("::/96", ""), name: "IPv4-compatible", embedded: LOW32 },
  { ...v6Block("64:ff9b::/96", ""), name: "NAT64", embedded: LOW32 },
  { ...v6Block("2002::/16", ""), name: "6to4", embedded: (ip) => Number((ip >> 80n) & 0xffff_ffffn) },
  // RFC 4380 §4: the client's IPv4 address is stored with every bit inverted.
  { ...v6Block("2001::/32", ""), name: "Teredo", embedded: (ip) => Number(~ip & 0xffff_ffffn) },
];

function inBlock(ip: bigint, width: 32 | 128, block: { base: bigint; bits: number }): boolean {
  const shift = BigInt(width - block.bits);
  return ip >> shift === block.base >> shift;
}

/**
 * PROTOCOL.md §6: why a production server refuses to connect to `ip`, or `undefined`
 * when the address is a public one. Accepts IPv4 in every form `inet_aton` and the
 * WHATWG URL parser accept (`127.0.0.1`, `2130706433`, `0177.0.0.1`, `0x7f.1`,
 * `127.1`) and IPv6 with or without brackets and zone (`[::ffff:7f00:1]`, `fe80::1%eth0`).
 * Anything that is not an IP address is refused ("not an IP address"): the check fails
 * closed.
 */
export function isRefusedAddress(ip: string): string | undefined {
  const v4 = parseIpv4Number(ip);
  if (v4 !== undefined) return refusalOfIpv4(v4);
  const groups = parseIpv6Groups(ip);
  if (groups === undefined) return `${ip} is not an IP address`;
  const value = ipv6ToBigInt(groups);
  for (const block of IPV6_REFUSED) {
    if (inBlock(value, 128, block)) return `${block.reason} (${block.cidr})`;
  }
  for (const carrier of IPV6_CARRIERS) {
    if (!inBlock(value, 128, carrier)) continue;
    const inner = carrier.embedded(value);
    const reason = refusalOfIpv4(inner);
    return reason === undefined ? undefined : `${carrier.name} (${carrier.cidr}) form of ${formatIpv4(inner)}: ${reason}`;
  }
  return undefined;
}

function refusalOfIpv4(ip: number): string | undefined {
  const value = BigInt(ip);
  for (const block of IPV4_REFUSED) {
    if (inBlock(value, 32, block)) return `${block.reason} (${block.cidr})`;
  }
  return undefined;
}

/**
 * PROTOCOL.md §6 ("IPv4 written in decimal, octal or hex"): an IPv4 address written in
 * any form the WHATWG URL host parser (and `inet_aton`)
 * accepts — one to four dot-separated parts, each decimal, octal (leading `0`) or hex
 * (`0x`), the last part filling the remaining bytes, one trailing dot allowed — as a
 * dotted quad; `undefined` when `host` is not such a literal. `new URL()` already
 * normalises hosts this way (`http://2130706433/` has hostname `127.0.0.1`); this is for
 * raw strings that did not pass through it.
 */
export function parseIpv4Literal(host: string): string | undefined {
  const value = parseIpv4Number(host);
  return value === undefined ? undefined : formatIpv4(value);
}

/** WHATWG URL "IPv4 parser" (https://url.spec.whatwg.org/#concept-ipv4-parser), without its validation errors. */
function parseIpv4Number(host: string): number | undefined {
  const parts = host.split(".");
  if (parts.length > 1 && parts.at(-1) === "") parts.pop();
  if (parts.length > 4) return undefined;
  const numbers: number[] = [];
  for (const part of parts) {
    const n = parseIpv4Part(part);
    if (n === undefined) return undefined;
    numbers.push(n);
  }
  const last = numbers.pop() ?? 0;
  if (numbers.some((n) => n > 255)) return undefined;
  if (last >= 256 ** (4 - numbers.length)) return undefined;
  return numbers.reduce((sum, n, i) => sum + n * 256 ** (3 - i), last);
}

function parseIpv4Part(part: string): number | undefined {
  if (part === "") return undefined;
  let digits = part;
  let pattern = /^[0-9]+$/;
  let radix = 10;
  if (/^0x/i.test(part)) {
    digits = part.slice(2);
    pattern = /^[0-9a-f]+$/i;
    radix = 16;
  } else if (part.length > 1 && part.startsWith("0")) {
    digits = part.slice(1);
    pattern = /^[0-7]+$/;
    radix = 8;
  }
  if (digits === "") return 0; // "0x" is 0 in the WHATWG parser
  if (!pattern.test(digits)) return undefined;
  const value = parseInt(digits, radix);
  // Anything above 2^32 is refused by the caller's range checks; keep it finite.
  return Number.isFinite(value) ? value : Number.MAX_SAFE_INTEGER;
}

function parseDottedQuad(text: string): number | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!match) return undefined;
  const bytes = match.slice(1).map(Number);
  if (bytes.some((b) => b > 255)) return undefined;
  return bytes.reduce((sum, b) => sum * 256 + b, 0);
}

function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

/**
 * The eight 16-bit groups of an IPv6 address (RFC 4291 §2.2 text forms: `::`
 * compression, a dotted-quad tail), brackets and a `%zone` allowed; else `undefined`.
 */
function parseIpv6Groups(text: string): number[] | undefined {
  let s = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const zone = s.indexOf("%");
  if (zone !== -1) s = s.slice(0, zone);
  if (!s.includes(":")) return undefined;
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const parseHalf = (half: string): number[] | undefined => {
    if (half === "") return [];
    const out: number[] = [];
    const pieces = half.split(":");
    for (const [i, piece] of pieces.entries()) {
      if (i === pieces.length - 1 && piece.includes(".")) {
        const v4 = parseDottedQuad(piece);
        if (v4 === undefined) return undefined;
        out.push(Math.floor(v4 / 65536), v4 % 65536);
      } else if (/^[0-9a-f]{1,4}$/i.test(piece)) {
        out.push(parseInt(piece, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = parseHalf(halves[0] ?? "");
  const tail = halves.length === 2 ? parseHalf(halves[1] ?? "") : [];
  if (!head || !tail) return undefined;
  // A dotted quad may only end the address.
  if (halves.length === 2 && head.length > 0 && (halves[0] ?? "").includes(".")) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const missing = 8 - head.length - tail.length;
  if (missing < 1) return undefined;
  return [...head, ...new Array<number>(missing).fill(0), ...tail];
}

function ipv6ToBigInt(groups: number[]): bigint {
  return groups.reduce((sum, g) => (sum << 16n) | BigInt(g), 0n);
}

/**
 * One spelling per address, for comparing addresses written differently (the §6
 * exemptions of `HttpClientOptions.allowedAddresses`): IPv4 as a
 * dotted quad, IPv6 as eight lowercase unpadded groups without zone. IPv4-mapped IPv6
 * stays IPv6 (it is a different socket address). `undefined` when not an IP.
 */
export function canonicalIp(ip: string): string | undefined {
  const v4 = parseIpv4Literal(ip);
  if (v4 !== undefined) return v4;
  const groups = parseIpv6Groups(ip);
  return groups?.map((g) => g.toString(16)).join(":");
}
