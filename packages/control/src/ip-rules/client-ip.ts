import { normalizeIp } from "./cidr.ts";

export type HeaderGetter = { get(name: string): string | null };

/**
 * The caller's address: the first X-Forwarded-For hop (Next.js' server sets it to the
 * socket's address when the request has none; a reverse proxy in front must overwrite
 * it, since a client can send its own), else X-Real-IP. IPv4-mapped IPv6 is written as
 * IPv4 so rules and audit show one form.
 */
export function clientIpFromHeaders(headers: HeaderGetter): string | null {
  const forwarded = headers.get("x-forwarded-for")?.split(",")[0]?.trim();
  const raw = forwarded || headers.get("x-real-ip")?.trim() || null;
  if (!raw) return null;
  return normalizeIp(raw) ?? raw;
}
