import { authenticateRequest } from "@cumulus/control/auth/authenticate";
import type { AuthUser } from "@cumulus/control/access/access";
import { ctx } from "./context.ts";

/**
 * The signed-in user of an API request. Today only device tokens (Authorization: Bearer
 * cmd_…) are accepted; the browser session cookie joins here once sign-in for the web UI
 * exists, so route handlers never change.
 */
export function requireUser(req: Request): Promise<AuthUser> {
  return authenticateRequest(ctx(), req.headers);
}

/** The signed-in user, or null when the request carries no credentials at all. */
export async function optionalUser(req: Request): Promise<AuthUser | null> {
  if (!req.headers.get("authorization") && !req.headers.get("cookie")) return null;
  try {
    return await requireUser(req);
  } catch {
    return null;
  }
}

/**
 * The caller's address for audit and sign-in throttling: the first X-Forwarded-For hop
 * (set by Next.js' server or the reverse proxy in front of it), else X-Real-IP.
 */
export function clientIp(req: Request): string | null {
  const forwarded = req.headers.get("x-forwarded-for")?.split(",")[0]?.trim();
  if (forwarded) return forwarded;
  return req.headers.get("x-real-ip")?.trim() || null;
}
