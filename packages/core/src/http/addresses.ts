/**
 * PROTOCOL.md §6 "Outgoing requests": which IP addresses a production server refuses
 * to connect to. Pure functions of a string; the connector in `client.ts` applies them
 * to every address DNS gives, and to IP-literal hosts, before a socket is opened.
 *
 * The refused set is not a hand-picked list but the two tables below (`IPV4_SPECIAL_PURPOSE_BLOCKS`,
 * `IPV6_SPECIAL_PURPOSE_BLOCKS`): every block
 * of the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890, RFC 8190),
 * with the registry's name, RFC and "Globally Reachable" value, plus the few blocks §6
 * names that live in other registries (multicast) or were retired from it (site-local,
 * IPv4-compatible). An address is judged by the most specific block that holds it, so
 * the registry's globally reachable exceptions inside a refused block (2001:1::1 in
 * 2001::/23, 192.0.0.9 in 192.0.0.0/24) stay reachable. Blocks whose addresses carry an
 * IPv4 address (IPv4-mapped, NAT64, 6to4, Teredo) are judged by the address they carry.
 */

/** Where a row comes from: the IANA registries, or §6's own list. */
export type BlockSource = "iana-ipv4-special" | "iana-ipv6-special" | "protocol-6";

/** How a block's addresses carry an IPv4 address (the address is judged by it). */
export type Carrier = "low-32-bits" | "6to4" | "teredo";

/** One block of the special-purpose registries, as IANA lists it. */
export interface SpecialPurposeBlock {
  /** The registry's "Address Block". */
  cidr: string;
  /** The registry's "Name". */
  name: string;
  /** The registry's "RFC". */
  rfc: string;
  source: BlockSource;
  /**
   * The registry's "Globally Reachable": `false` is refused, `true` is a reachable
   * exception (usually inside a refused block), `"n/a"` (deprecated blocks, 6to4,
   * Teredo) is refused unless the block carries an IPv4 address.
   */
  globallyReachable: boolean | "n/a";
  /** Set when the block's addresses carry an IPv4 address: judged by that address. */
  carries?: Carrier;
}

const v4 = (cidr: string, name: string, rfc: string, globallyReachable: boolean | "n/a", source: BlockSource = "iana-ipv4-special"): SpecialPurposeBlock => ({
  cidr,
  name,
  rfc,
  source,
  globallyReachable,
});
const v6 = (
  cidr: string,
  name: string,
  rfc: string,
  globallyReachable: boolean | "n/a",
  carries?: Carrier,
  source: BlockSource = "iana-ipv6-special",
): SpecialPurposeBlock => ({
  cidr,
  name,
  rfc,
  source,
  globallyReachable,
  ...(carries ? { carries } : {}),
});

/**
 * PROTOCOL.md §6: the IANA IPv4 Special-Purpose Address Registry (iana-ipv4-special-registry),
 * every row, and the IPv4 multicast space §6 names. Checked against the registry of 2025.
 */
export const IPV4_SPECIAL_PURPOSE_BLOCKS: readonly SpecialPurposeBlock[] = [
  v4("0.0.0.0/8", '"This network"', "RFC 791 §3.2", false),
  v4("0.0.0.0/32", '"This host on this network"', "RFC 1122 §3.2.1.3", false),
  v4("10.0.0.0/8", "Private-Use", "RFC 1918", false),
  v4("100.64.0.0/10", "Shared Address Space", "RFC 6598", false),
  v4("127.0.0.0/8", "Loopback", "RFC 1122 §3.2.1.3", false),
  v4("169.254.0.0/16", "Link Local", "RFC 3927", false),
  v4("172.16.0.0/12", "Private-Use", "RFC 1918", false),
  v4("192.0.0.0/24", "IETF Protocol Assignments", "RFC 6890 §2.1", false),
  v4("192.0.0.0/29", "IPv4 Service Continuity Prefix", "RFC 7335", false),
  v4("192.0.0.8/32", "IPv4 dummy address", "RFC 7600", false),
  v4("192.0.0.9/32", "Port Control Protocol Anycast", "RFC 7723", true),
  v4("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", "RFC 8155", true),
  v4("192.0.0.170/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 §2.2", false),
  v4("192.0.0.171/32", "NAT64/DNS64 Discovery", "RFC 8880, RFC 7050 §2.2", false),
  v4("192.0.2.0/24", "Documentation (TEST-NET-1)", "RFC 5737", false),
  v4("192.31.196.0/24", "AS112-v4", "RFC 7535", true),
  v4("192.52.193.0/24", "AMT", "RFC 7450", true),
  v4("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", "RFC 7526", "n/a"),
  v4("192.168.0.0/16", "Private-Use", "RFC 1918", false),
  v4("192.175.48.0/24", "Direct Delegation AS112 Service", "RFC 7534", true),
  v4("198.18.0.0/15", "Benchmarking", "RFC 2544", false),
  v4("198.51.100.0/24", "Documentation (TEST-NET-2)", "RFC 5737", false),
  v4("203.0.113.0/24", "Documentation (TEST-NET-3)", "RFC 5737", false),
  v4("240.0.0.0/4", "Reserved", "RFC 1112 §4", false),
  v4("255.255.255.255/32", "Limited Broadcast", "RFC 8190, RFC 919 §7", false),
  // §6 "multicast": the IPv4 Multicast Address Space registry, not the special-purpose one.
  v4("224.0.0.0/4", "Multicast", "RFC 5771", false, "protocol-6"),
];

/**
 * PROTOCOL.md §6: the IANA IPv6 Special-Purpose Address Registry (iana-ipv6-special-registry),
 * every row, and the blocks §6 names from elsewhere: multicast, the retired site-local
 * and IPv4-compatible forms, IPv4-translated (SIIT).
 */
export const IPV6_SPECIAL_PURPOSE_BLOCKS: readonly SpecialPurposeBlock[] = [
  v6("::1/128", "Loopback Address", "RFC 4291", false),
  v6("::/128", "Unspecified Address", "RFC 4291", false),
  v6("::ffff:0:0/96", "IPv4-mapped Address", "RFC 4291", false, "low-32-bits"),
  v6("64:ff9b::/96", "IPv4-IPv6 Translat.", "RFC 6052", true, "low-32-bits"),
  v6("64:ff9b:1::/48", "IPv4-IPv6 Translat. (local-use)", "RFC 8215", false),
  v6("100::/64", "Discard-Only Address Block", "RFC 6666", false),
  v6("100:0:0:1::/64", "Dummy IPv6 Prefix", "RFC 9780", false),
  v6("2001::/23", "IETF Protocol Assignments", "RFC 2928", false),
  v6("2001::/32", "TEREDO", "RFC 4380, RFC 8190", "n/a", "teredo"),
  v6("2001:1::1/128", "Port Control Protocol Anycast", "RFC 7723", true),
  v6("2001:1::2/128", "Traversal Using Relays around NAT Anycast", "RFC 8155", true),
  v6("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", "RFC 9665", true),
  v6("2001:2::/48", "Benchmarking", "RFC 5180, RFC Errata 1752", false),
  v6("2001:3::/32", "AMT", "RFC 7450", true),
  v6("2001:4:112::/48", "AS112-v6", "RFC 7535", true),
  v6("2001:10::/28", "Deprecated (previously ORCHID)", "RFC 4843", "n/a"),
  v6("2001:20::/28", "ORCHIDv2", "RFC 7343", true),
  v6("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", "RFC 9374", true),
  v6("2001:db8::/32", "Documentation", "RFC 3849", false),
  v6("2002::/16", "6to4", "RFC 3056", "n/a", "6to4"),
  v6("2620:4f:8000::/48", "Direct Delegation AS112 Service", "RFC 7534", true),
  v6("3fff::/20", "Documentation", "RFC 9637", false),
  v6("5f00::/16", "Segment Routing (SRv6) SIDs", "RFC 9602", false),
  v6("fc00::/7", "Unique-Local", "RFC 4193, RFC 8190", false),
  v6("fe80::/10", "Link-Local Unicast", "RFC 4291", false),
  // §6 "multicast" and retired forms, from the IPv6 Address Space registry and RFCs.
  v6("ff00::/8", "Multicast", "RFC 4291 §2.7", false, undefined, "protocol-6"),
  v6("fec0::/10", "Site-Local (deprecated)", "RFC 3879", false, undefined, "protocol-6"),
  v6("::/96", "IPv4-compatible (deprecated)", "RFC 4291 §2.5.5.1", false, undefined, "protocol-6"),
  v6("::ffff:0:0:0/96", "IPv4-translated", "RFC 2765", false, undefined, "protocol-6"),
];

interface Compiled {
  block: SpecialPurposeBlock;
  base: bigint;
  bits: number;
}

function compile(blocks: readonly SpecialPurposeBlock[], width: 32 | 128): Compiled[] {
  return (
    blocks
      .map((block) => {
        const [address = "", bits = ""] = block.cidr.split("/");
        const base = width === 32 ? BigInt(parseDottedQuad(address) ?? Number.NaN) : ipv6ToBigInt(parseIpv6Groups(address) ?? []);
        return { block, base, bits: Number(bits) };
      })
      // Most specific first: the first block that holds an address decides.
      .sort((a, b) => b.bits - a.bits)
  );
}

const IPV4_COMPILED = compile(IPV4_SPECIAL_PURPOSE_BLOCKS, 32);
const IPV6_COMPILED = compile(IPV6_SPECIAL_PURPOSE_BLOCKS, 128);

function mostSpecific(ip: bigint, width: 32 | 128, table: readonly Compiled[]): SpecialPurposeBlock | undefined {
  return table.find(({ base, bits }) => {
    const shift = BigInt(width - bits);
    return ip >> shift === base >> shift;
  })?.block;
}

const EMBEDDED: Record<Carrier, (ip: bigint) => number> = {
  "low-32-bits": (ip) => Number(ip & 0xffff_ffffn),
  "6to4": (ip) => Number((ip >> 80n) & 0xffff_ffffn),
  // RFC 4380 §4: the client's IPv4 address is stored with every bit inverted.
  teredo: (ip) => Number(~ip & 0xffff_ffffn),
};

const describeBlock = (b: SpecialPurposeBlock) => `${b.name} (${b.cidr}, ${b.rfc})`;

/**
 * PROTOCOL.md §6: the special-purpose block that makes a production server refuse `ip`
 * (most specific first), or `undefined` for a globally reachable address. Accepts
 * IPv4 in every form `inet_aton` and the WHATWG URL parser accept and IPv6 with or
 * without brackets and zone; anything else is `undefined` (see `isRefusedAddress`).
 */
export function refusingBlock(ip: string): SpecialPurposeBlock | undefined {
  return refusal(ip)?.block;
}

/**
 * PROTOCOL.md §6: why a production server refuses to connect to `ip`, or `undefined`
 * when the address is a public one. Accepts IPv4 in every form `inet_aton` and the
 * WHATWG URL parser accept (`127.0.0.1`, `2130706433`, `0177.0.0.1`, `0x7f.1`,
 * `127.1`) and IPv6 with or without brackets and zone (`[::ffff:7f00:1]`, `fe80::1%eth0`).
 * The reason names the registry block: `Loopback (127.0.0.0/8, RFC 1122 §3.2.1.3)`.
 * Anything that is not an IP address is refused ("not an IP address"): the check fails
 * closed.
 */
export function isRefusedAddress(ip: string): string | undefined {
  const v4value = parseIpv4Number(ip);
  if (v4value === undefined && parseIpv6Groups(ip) === undefined) return `${ip} is not an IP address`;
  return refusal(ip)?.reason;
}

function refusal(ip: string): { block: SpecialPurposeBlock; reason: string } | undefined {
  const v4value = parseIpv4Number(ip);
  if (v4value !== undefined) return refusalOfIpv4(v4value);
  const groups = parseIpv6Groups(ip);
  if (groups === undefined) return undefined;
  const value = ipv6ToBigInt(groups);
  const block = mostSpecific(value, 128, IPV6_COMPILED);
  if (!block) return undefined;
  if (block.carries) {
    const inner = EMBEDDED[block.carries](value);
    const found = refusalOfIpv4(inner);
    return found && { block: found.block, reason: `${describeBlock(block)} of ${formatIpv4(inner)}: ${found.reason}` };
  }
  return block.globallyReachable === true ? undefined : { block, reason: describeBlock(block) };
}

function refusalOfIpv4(ip: number): { block: SpecialPurposeBlock; reason: string } | undefined {
  const block = mostSpecific(BigInt(ip), 32, IPV4_COMPILED);
  return block && block.globallyReachable !== true ? { block, reason: describeBlock(block) } : undefined;
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
