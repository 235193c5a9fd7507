import { z } from "zod";
import { AppError } from "@cumulus/protocol/errors";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { audit } from "../audit/audit.ts";
import { hashPassword, MIN_PASSWORD_LENGTH, verifyPassword } from "../auth/passwords.ts";
import { usedBytesOf } from "../uploads/quota.ts";
import { toDevice, type DeviceRow } from "./users.ts";

/** Self-service for the signed-in user: profile, password, sessions, devices. */

type Meta = { ip?: string | null };

export type Me = {
  id: string;
  email: string;
  name: string;
  role: "admin" | "user";
  quotaBytes: number | null;
  usedBytes: number;
  via: "session" | "device-token";
};

export async function me(ctx: ControlContext, user: AuthUser): Promise<Me> {
  const [u, used] = await Promise.all([
    ctx.prisma.user.findUniqueOrThrow({ where: { id: user.id } }),
    usedBytesOf(ctx.prisma, user.id),
  ]);
  return {
    id: u.id,
    email: u.email,
    name: u.name,
    role: u.role,
    quotaBytes: u.quotaBytes === null ? null : Number(u.quotaBytes),
    usedBytes: used,
    via: user.tokenId ? "device-token" : "session",
  };
}

export const ZChangePassword = z.object({
  currentPassword: z.string().min(1, { message: "enter your current password" }).max(1024),
  newPassword: z
    .string()
    .min(MIN_PASSWORD_LENGTH, { message: `passwords have at least ${MIN_PASSWORD_LENGTH} characters` })
    .max(1024),
  /** Also end the user's other browser sessions (the current one stays). */
  signOutOthers: z.boolean().default(true),
});

/** Changes the password after checking the current one; other sessions end by default. */
export async function changePassword(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  meta: Meta = {},
): Promise<{ changed: boolean; sessionsEnded: number }> {
  const req = ZChangePassword.parse(input);
  const account = await ctx.prisma.account.findFirst({ where: { userId: user.id, providerId: "credential" } });
  if (!account?.password || !(await verifyPassword(account.password, req.currentPassword))) {
    await audit(ctx, {
      action: "user.password.change",
      actor: user.email,
      actorId: user.id,
      target: user.email,
      ip: meta.ip ?? null,
      outcome: "failed",
      details: { reason: "wrong current password" },
    });
    throw new AppError("FORBIDDEN", "your current password is not right");
  }
  if (req.currentPassword === req.newPassword) {
    throw new AppError("BAD_REQUEST", "the new password is the same as the current one");
  }
  const hash = await hashPassword(req.newPassword);
  const ended = await ctx.prisma.$transaction(async (tx) => {
    await tx.account.update({ where: { id: account.id }, data: { password: hash } });
    if (!req.signOutOthers) return 0;
    const { count } = await tx.session.deleteMany({
      where: { userId: user.id, ...(user.sessionId ? { id: { not: user.sessionId } } : {}) },
    });
    return count;
  });
  await audit(ctx, {
    action: "user.password.change",
    actor: user.email,
    actorId: user.id,
    target: user.email,
    ip: meta.ip ?? null,
    details: { sessionsEnded: ended },
  });
  return { changed: true, sessionsEnded: ended };
}

export type SessionRow = {
  id: string;
  current: boolean;
  createdAt: string;
  expiresAt: string;
  ipAddress: string | null;
  userAgent: string | null;
};

export async function listMySessions(ctx: ControlContext, user: AuthUser): Promise<SessionRow[]> {
  const rows = await ctx.prisma.session.findMany({
    where: { userId: user.id, expiresAt: { gt: new Date() } },
    orderBy: { createdAt: "desc" },
  });
  return rows.map((s) => ({
    id: s.id,
    current: s.id === user.sessionId,
    createdAt: s.createdAt.toISOString(),
    expiresAt: s.expiresAt.toISOString(),
    ipAddress: s.ipAddress,
    userAgent: s.userAgent,
  }));
}

/** Sign out everywhere: deletes every browser session of the user, this one included. */
export async function signOutEverywhere(
  ctx: ControlContext,
  user: AuthUser,
  meta: Meta = {},
): Promise<{ sessionsEnded: number }> {
  const { count } = await ctx.prisma.session.deleteMany({ where: { userId: user.id } });
  await audit(ctx, {
    action: "signout.everywhere",
    actor: user.email,
    actorId: user.id,
    target: user.email,
    ip: meta.ip ?? null,
    details: { sessionsEnded: count },
  });
  return { sessionsEnded: count };
}

export async function listMyDevices(ctx: ControlContext, user: AuthUser): Promise<DeviceRow[]> {
  const rows = await ctx.prisma.deviceToken.findMany({ where: { userId: user.id }, orderBy: { createdAt: "desc" } });
  return rows.map(toDevice);
}
