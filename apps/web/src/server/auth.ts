import { cache } from "react";
import { headers as nextHeaders } from "next/headers";
import { authenticate } from "@cumulus/control/auth/authenticate";
import type { AuthUser } from "@cumulus/control/access/access";
import { clientIpFromHeaders } from "@cumulus/control/ip-rules/client-ip";
import { decideIp, ipDeniedError } from "@cumulus/control/ip-rules/ip-rules";
import { AppError } from "@cumulus/protocol/errors";
import { ctx } from "./context.ts";

/**
 * The signed-in user of an API request: a device token (Authorization: Bearer cmd_…)
 * or the browser's session cookie, then the IP access rules for that user and address
 * (a denied address is refused with FORBIDDEN). Route handlers and tRPC both use this.
 */
export function requireUser(req: Request): Promise<AuthUser> {
  return authenticate(ctx(), req.headers, { ip: clientIp(req), url: req.url });
}

/**
 * The signed-in user, or null for an anonymous caller (no credentials, or ones that no
 * longer work). An address the IP rules deny is refused (FORBIDDEN) rather than treated
 * as anonymous: signed-in callers with their own rules, anonymous ones with the global
 * rules — so public content is not readable from a denied address either.
 */
export async function optionalUser(req: Request): Promise<AuthUser | null> {
  if (req.headers.get("authorization") || req.headers.get("cookie")) {
    try {
      return await requireUser(req);
    } catch (err) {
      if (err instanceof AppError && err.code === "FORBIDDEN") throw err;
    }
  }
  const ip = clientIp(req);
  const decision = await decideIp(ctx().prisma, null, ip);
  if (!decision.allowed) throw ipDeniedError(ip);
  return null;
}

/**
 * The caller's address for audit, sign-in throttling and the IP rules: the first
 * X-Forwarded-For hop (set by Next.js' server to the socket address, or by the reverse
 * proxy in front of it), else X-Real-IP; IPv4-mapped IPv6 is written as IPv4.
 */
export function clientIp(req: Request): string | null {
  return clientIpFromHeaders(req.headers);
}

export type PageAuth =
  { state: "signed-in"; user: AuthUser } | { state: "signed-out" } | { state: "refused"; message: string };

/**
 * For server components and layouts: who is signed in (from the request's cookie), with
 * the IP rules applied. Never throws for a missing or ended session.
 */
export const pageAuth = cache(pageAuthUncached);

// Wrapped in React's per-request cache: the layout and the page of one request both ask,
// and a big folder's first paint should not wait for the session and IP rules twice.
async function pageAuthUncached(): Promise<PageAuth> {
  const h = new Headers(await nextHeaders());
  if (!h.get("cookie")) return { state: "signed-out" };
  try {
    const user = await authenticate(ctx(), h, { ip: clientIpFromHeaders(h), url: undefined });
    return { state: "signed-in", user };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (e.code === "FORBIDDEN") return { state: "refused", message: e.message ?? "access refused" };
    if (e.code === "UNAUTHENTICATED" || e.code === "TOKEN_EXPIRED") return { state: "signed-out" };
    throw err;
  }
}
