import { AppError } from "@cumulus/protocol/errors";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { DEVICE_TOKEN_PREFIX, hashDeviceToken } from "./device-tokens.ts";
import { COOKIE_PREFIX, sessionFromHeaders } from "./better-auth.ts";
import { assertIpAllowed } from "../ip-rules/ip-rules.ts";

/** lastUsedAt is for "which devices are still in use": minute precision saves a write per request. */
const LAST_USED_PRECISION_MS = 60_000;

const TOKEN_SHAPE = /^cmd_[A-Za-z0-9_-]{43}$/;

export type HeaderSource = { get(name: string): string | null };

/**
 * The user behind `Authorization: Bearer cmd_…`. Unknown, revoked and expired tokens and
 * disabled accounts are refused with a message that tells the user what to do.
 */
export async function authenticateRequest(
  ctx: ControlContext,
  headers: HeaderSource,
  now = new Date(),
): Promise<AuthUser> {
  const header = headers.get("authorization");
  if (!header)
    throw new AppError(
      "UNAUTHENTICATED",
      "sign in first: this call needs Authorization: Bearer <device token> (cumulus login)",
    );
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  const token = match?.[1];
  if (!token || !token.startsWith(DEVICE_TOKEN_PREFIX)) {
    throw new AppError("UNAUTHENTICATED", "the Authorization header must be Bearer <device token> (cmd_…)");
  }
  if (!TOKEN_SHAPE.test(token)) throw new AppError("UNAUTHENTICATED", "malformed device token: sign in again");

  const row = await ctx.prisma.deviceToken.findUnique({
    where: { tokenHash: hashDeviceToken(token) },
    include: { user: true },
  });
  if (!row) throw new AppError("UNAUTHENTICATED", "unknown device token: sign in again");
  if (row.revokedAt)
    throw new AppError("UNAUTHENTICATED", `this device token (${row.name}) was revoked: sign in again`);
  if (row.expiresAt && row.expiresAt <= now)
    throw new AppError("TOKEN_EXPIRED", `this device token (${row.name}) has expired: sign in again`);
  if (row.user.disabled) throw new AppError("UNAUTHENTICATED", "this account is disabled: ask an administrator");

  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() >= LAST_USED_PRECISION_MS) {
    // Conditional, so concurrent requests of one device write once.
    await ctx.prisma.deviceToken.updateMany({
      where: {
        id: row.id,
        OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: new Date(now.getTime() - LAST_USED_PRECISION_MS) } }],
      },
      data: { lastUsedAt: now },
    });
  }
  return { id: row.user.id, email: row.user.email, name: row.user.name, role: row.user.role, tokenId: row.id };
}

export type AuthenticateOptions = {
  /** The client's address, for the IP access rules (see ip-rules/). */
  ip?: string | null;
  /** The request URL (tells http from https when no proxy header does). */
  url?: string;
  now?: Date;
};

/**
 * The user behind a request from any client: `Authorization: Bearer cmd_…` (device
 * token) or the browser's session cookie. Then the IP access rules for that user and
 * the caller's address: a denied address is refused (FORBIDDEN, audited) however valid
 * the credential. Disabled accounts are refused either way.
 */
export async function authenticate(
  ctx: ControlContext,
  headers: Headers,
  opts: AuthenticateOptions = {},
): Promise<AuthUser> {
  const ip = opts.ip ?? null;
  let user: AuthUser;
  if (headers.get("authorization")) {
    user = await authenticateRequest(ctx, headers, opts.now);
  } else if (headers.get("cookie")?.includes(`${COOKIE_PREFIX}.session_token`)) {
    const s = await sessionFromHeaders(ctx, headers, opts.url);
    if (!s) throw new AppError("UNAUTHENTICATED", "your session has ended: sign in again");
    if (s.user.disabled) throw new AppError("UNAUTHENTICATED", "this account is disabled: ask an administrator");
    user = {
      id: s.user.id,
      email: s.user.email,
      name: s.user.name,
      role: s.user.role,
      tokenId: null,
      sessionId: s.sessionId,
    };
  } else {
    throw new AppError(
      "UNAUTHENTICATED",
      "sign in first: send a device token (Authorization: Bearer cmd_…) or sign in in the browser",
    );
  }
  await assertIpAllowed(ctx, user, ip, user.tokenId ? "device-token" : "session");
  return user;
}
