import { cidrContains, formatIp, normalizeIp, parseCidr, parseIp, type Cidr } from "./cidr.ts";

export type HeaderGetter = { get(name: string): string | null };

/**
 * The header through which apps/web's server (server.ts) hands the resolved client
 * address to route handlers, tRPC and pages. The server sets it on every request and
 * drops whatever the client sent under that name, so it cannot be forged; X-Forwarded-For
 * itself is only believed from configured proxies (see resolveClientIp).
 */
export const CLIENT_IP_HEADER = "x-cumulus-client-ip";

/**
 * Parses CUMULUS_TRUSTED_PROXIES: comma- or space-separated addresses and CIDR blocks.
 * An empty list (the default) trusts nobody, so X-Forwarded-For is ignored.
 */
export function parseTrustedProxies(input: string | undefined): Cidr[] {
  const out: Cidr[] = [];
  for (const item of (input ?? "").split(/[\s,]+/)) {
    if (item === "") continue;
    const p = parseCidr(item);
    if (!p.ok) throw new Error(`CUMULUS_TRUSTED_PROXIES: ${p.error} (in "${item}")`);
    out.push(p.cidr);
  }
  return out;
}

/**
 * The client's address from the socket peer and the X-Forwarded-For chain. Only a peer
 * in `trusted` may speak for someone else: then the chain is read from the right (the
 * hop the trusted proxy itself appended) and the first address that is not a trusted
 * proxy is the client. Reading from the left, as naive code does, would take whatever
 * the client wrote into the header. Unparsable hops stop the walk at the last good one.
 */
export function resolveClientIp(
  peer: string | null | undefined,
  forwardedFor: string | readonly string[] | null | undefined,
  trusted: readonly Cidr[],
): string | null {
  const peerIp = peer ? parseIp(peer) : null;
  if (!peerIp) return null;
  const isTrusted = (ip: ReturnType<typeof parseIp>) => ip !== null && trusted.some((c) => cidrContains(c, ip));
  if (!isTrusted(peerIp) || !forwardedFor) return formatIp(peerIp);
  const raw = typeof forwardedFor === "string" ? forwardedFor : forwardedFor.join(",");
  const hops = raw
    .split(",")
    .map((h) => h.trim())
    .filter((h) => h !== "");
  let client = peerIp;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = parseIp(hops[i]!);
    if (!hop) break;
    client = hop;
    if (!isTrusted(hop)) break;
  }
  return formatIp(client);
}

/**
 * The caller's address as resolved by apps/web's server (CLIENT_IP_HEADER). Without it
 * the request did not come through that server (a test harness, `next dev`): then the
 * answer is null, which the IP rules treat as an unknown address, never a header the
 * client chose. IPv4-mapped IPv6 is written as IPv4 so rules and audit show one form.
 */
export function clientIpFromHeaders(headers: HeaderGetter): string | null {
  return normalizeIp(headers.get(CLIENT_IP_HEADER));
}
