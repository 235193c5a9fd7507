import { createHash, randomBytes } from "node:crypto";
import { AppError } from "@cumulus/protocol/errors";
import { ZCreateDeviceTokenRequest } from "@cumulus/protocol/api";
import type { z } from "zod";
import type { ZCreateDeviceTokenResponse } from "@cumulus/protocol/api";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { audit } from "../audit/audit.ts";
import { hashPassword, verifyPassword } from "./passwords.ts";
import { ipAllowed, lockedOut } from "./signin-checks.ts";
import { ipDeniedError } from "../ip-rules/ip-rules.ts";
import { lockoutMessage, noteFailureForLockout } from "../users/lockout.ts";

export const DEVICE_TOKEN_PREFIX = "cmd_";

export function hashDeviceToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

// Failed sign-ins lock an e-mail out through users/lockout.ts (shared with the browser
// sign-in and persistent: failures are the audit log's `signin.failed` rows).

// A fixed hash verified when the account does not exist, so that an unknown e-mail
// takes as long to refuse as a wrong password.
let dummyHash: Promise<string> | null = null;

export type SigninMeta = { ip?: string | null; userAgent?: string | null; now?: Date };

/**
 * POST /api/v1/auth/device-tokens — exchanges e-mail and password for a long-lived
 * device token (`cmd_<43 base64url chars>`). Only its SHA-256 is stored; the secret is
 * returned once. Every refusal looks the same to the caller ("wrong email or password")
 * except a disabled account, which is only revealed to someone who knows its password.
 */
export async function createDeviceToken(
  ctx: ControlContext,
  input: unknown,
  meta: SigninMeta = {},
): Promise<z.infer<typeof ZCreateDeviceTokenResponse>> {
  const req = ZCreateDeviceTokenRequest.parse(input);
  const email = req.email.trim().toLowerCase();
  const ip = meta.ip ?? null;
  const now = meta.now ?? new Date();
  const lock = await lockedOut(ctx, email, ip, "device-token", now);
  if (lock) {
    throw new AppError("RATE_LIMITED", `${lockoutMessage(lock, now)} (too many failed sign-ins for ${email})`);
  }

  const user = await ctx.prisma.user.findUnique({
    where: { email },
    include: { accounts: { where: { providerId: "credential" }, select: { password: true } } },
  });
  if (!(await ipAllowed(ctx, email, user?.id ?? null, ip, "device-token"))) throw ipDeniedError(ip);
  const phc = user?.accounts.find((a) => a.password)?.password ?? null;
  let ok: boolean;
  if (phc) {
    ok = await verifyPassword(phc, req.password);
  } else {
    dummyHash ??= hashPassword(randomBytes(16).toString("hex"));
    await verifyPassword(await dummyHash, req.password);
    ok = false;
  }
  if (!user || !ok) {
    await audit(ctx, {
      action: "signin.failed",
      actor: email,
      actorId: user?.id ?? null,
      target: email,
      ip,
      outcome: "failed",
      details: { reason: user ? "wrong password" : "unknown email", via: "device-token", device: req.deviceName },
    });
    await noteFailureForLockout(ctx, email, { ip, userId: user?.id ?? null, now });
    throw new AppError("UNAUTHENTICATED", "wrong email or password");
  }
  if (user.disabled) {
    await audit(ctx, {
      action: "signin.failed",
      actor: email,
      actorId: user.id,
      target: email,
      ip,
      outcome: "denied",
      details: { reason: "disabled", via: "device-token" },
    });
    throw new AppError("FORBIDDEN", "this account is disabled: ask an administrator");
  }
  await audit(ctx, {
    action: "signin",
    actor: email,
    actorId: user.id,
    target: email,
    ip,
    details: { via: "device-token", device: req.deviceName },
  });

  const token = DEVICE_TOKEN_PREFIX + randomBytes(32).toString("base64url");
  const row = await ctx.prisma.deviceToken.create({
    data: { userId: user.id, name: req.deviceName, tokenHash: hashDeviceToken(token) },
  });
  await audit(ctx, {
    action: "device-token.create",
    actor: email,
    actorId: user.id,
    target: req.deviceName,
    ip,
    details: { tokenId: row.id, userAgent: meta.userAgent ?? null },
  });
  return { token, tokenId: row.id, user: { id: user.id, email: user.email, role: user.role } };
}

/** DELETE /api/v1/auth/device-tokens/current — revokes the token the request came with. */
export async function revokeCurrentDeviceToken(
  ctx: ControlContext,
  user: AuthUser,
  meta: { ip?: string | null } = {},
): Promise<{ revoked: boolean }> {
  if (!user.tokenId)
    throw new AppError("BAD_REQUEST", "this request was not made with a device token: nothing to revoke");
  const { count } = await ctx.prisma.deviceToken.updateMany({
    where: { id: user.tokenId, userId: user.id, revokedAt: null },
    data: { revokedAt: new Date() },
  });
  if (count > 0) {
    await audit(ctx, {
      action: "device-token.revoke",
      actor: user.email,
      actorId: user.id,
      target: user.tokenId,
      ip: meta.ip ?? null,
    });
  }
  return { revoked: count > 0 };
}
