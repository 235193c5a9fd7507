/**
 * IPv4 and IPv6 addresses and CIDR blocks as bigints, for the IP access rules. Pure: no
 * I/O, no dependencies. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, what a dual-stack
 * socket reports for an IPv4 client) are treated as the IPv4 address they carry.
 */

export type IpFamily = 4 | 6;
export type ParsedIp = { family: IpFamily; value: bigint };
export type Cidr = { family: IpFamily; network: bigint; prefix: number };

const BITS: Record<IpFamily, number> = { 4: 32, 6: 128 };

function parseIpv4(s: string): bigint | null {
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  let v = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    if (p.length > 1 && p.startsWith("0")) return null; // no octal-looking octets
    const n = Number(p);
    if (n > 255) return null;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseIpv6(input: string): bigint | null {
  let s = input;
  const zone = s.indexOf("%");
  if (zone !== -1) s = s.slice(0, zone);
  if (s.length === 0 || s.length > 45) return null;
  // An embedded IPv4 tail (::ffff:1.2.3.4) stands for the last two groups.
  let tail: bigint | null = null;
  const lastColon = s.lastIndexOf(":");
  if (s.slice(lastColon + 1).includes(".")) {
    tail = parseIpv4(s.slice(lastColon + 1));
    if (tail === null) return null;
    s = s.slice(0, lastColon + 1) + "0:0";
  }
  const halves = s.split("::");
  if (halves.length > 2) return null;
  const groups = (h: string): string[] | null => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !rest) return null;
  const total = head.length + rest.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return null;
  const all = [...head, ...Array<string>(8 - total).fill("0"), ...rest];
  let v = 0n;
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  if (tail !== null) v = (v & ~0xffffffffn) | tail;
  return v;
}

/** Parses an address; IPv4-mapped IPv6 becomes IPv4. Brackets ([::1]) are accepted. */
export function parseIp(input: string): ParsedIp | null {
  const s = input.trim().replace(/^\[(.*)\]$/, "$1");
  if (s.includes(":")) {
    const v = parseIpv6(s);
    if (v === null) return null;
    if (v >> 32n === 0xffffn) return { family: 4, value: v & 0xffffffffn };
    return { family: 6, value: v };
  }
  const v = parseIpv4(s);
  return v === null ? null : { family: 4, value: v };
}

function mask(family: IpFamily, prefix: number): bigint {
  const bits = BITS[family];
  return prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
}

export type CidrParse = { ok: true; cidr: Cidr; canonical: string } | { ok: false; error: string };

/**
 * Parses "10.0.0.0/8", "2001:db8::/32" or a bare address (a /32 or /128). Host bits are
 * cleared: "10.1.2.3/8" is 10.0.0.0/8. An IPv4-mapped IPv6 block is rewritten as IPv4.
 */
export function parseCidr(input: string): CidrParse {
  const s = input.trim();
  if (s === "") return { ok: false, error: "enter an address or a CIDR block, e.g. 10.0.0.0/8 or 2001:db8::/32" };
  const slash = s.indexOf("/");
  const addr = slash === -1 ? s : s.slice(0, slash);
  const ip = parseIp(addr);
  if (!ip) return { ok: false, error: `${addr} is not an IPv4 or IPv6 address` };
  const bits = BITS[ip.family];
  let prefix = bits;
  if (slash !== -1) {
    const p = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p))
      return { ok: false, error: `the prefix length after "/" must be a number from 0 to ${bits}` };
    prefix = Number(p);
    // ::ffff:10.0.0.0/104 is 10.0.0.0/8.
    if (ip.family === 4 && addr.includes(":")) prefix -= 96;
    if (prefix < 0 || prefix > bits) {
      return { ok: false, error: `an IPv${ip.family} prefix length must be from 0 to ${bits}, got ${p}` };
    }
  }
  const cidr: Cidr = { family: ip.family, network: ip.value & mask(ip.family, prefix), prefix };
  return { ok: true, cidr, canonical: formatCidr(cidr) };
}

export function cidrContains(cidr: Cidr, ip: ParsedIp): boolean {
  if (cidr.family !== ip.family) return false;
  return (ip.value & mask(cidr.family, cidr.prefix)) === cidr.network;
}

export function formatIp(ip: ParsedIp): string {
  if (ip.family === 4) {
    const v = Number(ip.value);
    return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join(".");
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run (>= 2) of zero groups.
  let bestAt = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt === -1) return hex.join(":");
  return `${hex.slice(0, bestAt).join(":")}::${hex.slice(bestAt + bestLen).join(":")}`;
}

export function formatCidr(c: Cidr): string {
  return `${formatIp({ family: c.family, value: c.network })}/${c.prefix}`;
}

/** The canonical text of an address ("::ffff:127.0.0.1" → "127.0.0.1"), or null if unparsable. */
export function normalizeIp(input: string | null | undefined): string | null {
  if (!input) return null;
  const ip = parseIp(input);
  return ip ? formatIp(ip) : null;
}

export function isLoopback(ip: ParsedIp): boolean {
  return ip.family === 4 ? ip.value >> 24n === 127n : ip.value === 1n;
}

/**
 * Whether two addresses are the same client: equal after normalization, or both
 * loopback (one host reaching the control plane over 127.0.0.1 and a node over ::1).
 */
export function sameClient(a: string, b: string): boolean {
  const x = parseIp(a);
  const y = parseIp(b);
  if (!x || !y) return false;
  if (isLoopback(x) && isLoopback(y)) return true;
  return x.family === y.family && x.value === y.value;
}
