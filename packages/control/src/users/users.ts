import { randomUUID } from "node:crypto";
import { z } from "zod";
import { AppError } from "@cumulus/protocol/errors";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { audit } from "../audit/audit.ts";
import { hashPassword, MIN_PASSWORD_LENGTH } from "../auth/passwords.ts";
import { isUniqueViolation } from "../fs/tree.ts";
import { usedBytesByOwner } from "../uploads/quota.ts";
import { lockoutFor } from "./lockout.ts";

/**
 * Account administration (admins only; the tRPC layer checks the role, these functions
 * trust their caller to be an admin). Every change is audited with the account's e-mail
 * as target. Quotas are stored on User.quotaBytes and enforced on upload (uploads/quota.ts).
 */

export type Meta = { ip?: string | null };

const ZEmail = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.email({ message: "enter a valid e-mail address" }).max(320));
const ZPassword = z
  .string()
  .min(MIN_PASSWORD_LENGTH, { message: `passwords have at least ${MIN_PASSWORD_LENGTH} characters` })
  .max(1024);
const ZQuota = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).nullable();

export const ZCreateUser = z.object({
  email: ZEmail,
  name: z.string().trim().min(1, { message: "enter a name" }).max(200),
  password: ZPassword,
  role: z.enum(["admin", "user"]).default("user"),
  quotaBytes: ZQuota.default(null),
});
export const ZUserId = z.object({ id: z.uuid() });
export const ZSetDisabled = z.object({ id: z.uuid(), disabled: z.boolean() });
export const ZSetRole = z.object({ id: z.uuid(), role: z.enum(["admin", "user"]) });
export const ZSetQuota = z.object({ id: z.uuid(), quotaBytes: ZQuota });
export const ZResetPassword = z.object({ id: z.uuid(), password: ZPassword });
export const ZListUsers = z.object({ query: z.string().trim().max(200).optional() }).default({});

export type UserSummary = {
  id: string;
  email: string;
  name: string;
  role: "admin" | "user";
  disabled: boolean;
  quotaBytes: number | null;
  usedBytes: number;
  groups: string[];
  devices: number;
  createdAt: string;
};

export type DeviceRow = {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
};

export type UserDetail = UserSummary & {
  sessions: number;
  lockedUntil: string | null;
  recentFailures: number;
  deviceTokens: DeviceRow[];
  groupList: { id: string; name: string }[];
  ipRules: { id: string; cidr: string; action: "allow" | "deny" }[];
};

const quotaNumber = (q: bigint | null): number | null => (q === null ? null : Number(q));
const quotaBigInt = (q: number | null): bigint | null => (q === null ? null : BigInt(q));

export function toDevice(d: {
  id: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
}): DeviceRow {
  return {
    id: d.id,
    name: d.name,
    createdAt: d.createdAt.toISOString(),
    lastUsedAt: d.lastUsedAt?.toISOString() ?? null,
    expiresAt: d.expiresAt?.toISOString() ?? null,
    revokedAt: d.revokedAt?.toISOString() ?? null,
  };
}

export async function listUsers(ctx: ControlContext, input: unknown = {}): Promise<UserSummary[]> {
  const q = ZListUsers.parse(input ?? {});
  const rows = await ctx.prisma.user.findMany({
    where: q.query
      ? {
          OR: [
            { email: { contains: q.query, mode: "insensitive" } },
            { name: { contains: q.query, mode: "insensitive" } },
          ],
        }
      : {},
    orderBy: { email: "asc" },
    take: 1000,
    include: {
      memberships: { include: { group: { select: { name: true } } } },
      _count: { select: { deviceTokens: { where: { revokedAt: null } } } },
    },
  });
  const used = await usedBytesByOwner(
    ctx.prisma,
    rows.map((r) => r.id),
  );
  return rows.map((u) => ({
    id: u.id,
    email: u.email,
    name: u.name,
    role: u.role,
    disabled: u.disabled,
    quotaBytes: quotaNumber(u.quotaBytes),
    usedBytes: used.get(u.id) ?? 0,
    groups: u.memberships.map((m) => m.group.name).sort(),
    devices: u._count.deviceTokens,
    createdAt: u.createdAt.toISOString(),
  }));
}

export async function getUser(ctx: ControlContext, input: unknown): Promise<UserDetail> {
  const { id } = ZUserId.parse(input);
  const u = await ctx.prisma.user.findUnique({
    where: { id },
    include: {
      memberships: { include: { group: { select: { id: true, name: true } } } },
      deviceTokens: { orderBy: { createdAt: "desc" } },
      ipRules: { orderBy: { createdAt: "asc" } },
      _count: { select: { sessions: { where: { expiresAt: { gt: new Date() } } } } },
    },
  });
  if (!u) throw new AppError("NOT_FOUND", "no such user (deleted?)");
  const used = await usedBytesByOwner(ctx.prisma, [u.id]);
  const lock = await lockoutFor(ctx.prisma, u.email);
  const groups = u.memberships.map((m) => m.group).sort((a, b) => a.name.localeCompare(b.name));
  return {
    id: u.id,
    email: u.email,
    name: u.name,
    role: u.role,
    disabled: u.disabled,
    quotaBytes: quotaNumber(u.quotaBytes),
    usedBytes: used.get(u.id) ?? 0,
    groups: groups.map((g) => g.name),
    groupList: groups,
    devices: u.deviceTokens.filter((d) => !d.revokedAt).length,
    createdAt: u.createdAt.toISOString(),
    sessions: u._count.sessions,
    lockedUntil: lock.locked ? (lock.until?.toISOString() ?? null) : null,
    recentFailures: lock.failures,
    deviceTokens: u.deviceTokens.map(toDevice),
    ipRules: u.ipRules.map((r) => ({ id: r.id, cidr: r.cidr, action: r.action })),
  };
}

async function target(ctx: ControlContext, id: string) {
  const u = await ctx.prisma.user.findUnique({ where: { id } });
  if (!u) throw new AppError("NOT_FOUND", "no such user (deleted?)");
  return u;
}

/** Audits an account change made by `actor`, with the account's e-mail as target. */
function auditBy(
  ctx: ControlContext,
  actor: AuthUser,
  meta: Meta,
  action: string,
  target: string,
  details: Record<string, unknown>,
): Promise<void> {
  return audit(ctx, { action, actor: actor.email, actorId: actor.id, target, ip: meta.ip ?? null, details });
}

/** The better-auth e-mail/password account row of a user. */
const credentialAccount = (userId: string, password: string) => ({
  id: randomUUID(),
  accountId: userId,
  providerId: "credential",
  userId,
  password,
});

const lastAdmin = () => new AppError("BAD_REQUEST", "this is the last enabled admin: make someone else an admin first");

async function otherActiveAdmins(ctx: ControlContext, exceptId: string): Promise<number> {
  return ctx.prisma.user.count({ where: { role: "admin", disabled: false, id: { not: exceptId } } });
}

export async function createUser(
  ctx: ControlContext,
  admin: AuthUser,
  input: unknown,
  meta: Meta = {},
): Promise<UserSummary> {
  const req = ZCreateUser.parse(input);
  const passwordHash = await hashPassword(req.password);
  let id: string;
  try {
    id = await ctx.prisma.$transaction(async (tx) => {
      const user = await tx.user.create({
        data: {
          email: req.email,
          name: req.name,
          role: req.role,
          emailVerified: true,
          quotaBytes: quotaBigInt(req.quotaBytes),
        },
      });
      await tx.account.create({ data: credentialAccount(user.id, passwordHash) });
      return user.id;
    });
  } catch (err) {
    if (isUniqueViolation(err)) throw new AppError("ALREADY_EXISTS", `there is already an account for ${req.email}`);
    throw err;
  }
  await auditBy(ctx, admin, meta, "user.create", req.email, { userId: id, role: req.role, quotaBytes: req.quotaBytes });
  return (await listUsers(ctx, { query: req.email })).find((u) => u.id === id)!;
}

/**
 * Disabling signs the account out everywhere (its sessions are deleted) and makes its
 * device tokens stop working (authenticate refuses disabled accounts); enabling lets it
 * sign in again. Nobody may disable themselves or the last enabled admin.
 */
export async function setUserDisabled(
  ctx: ControlContext,
  admin: AuthUser,
  input: unknown,
  meta: Meta = {},
): Promise<{ disabled: boolean }> {
  const req = ZSetDisabled.parse(input);
  const u = await target(ctx, req.id);
  if (req.disabled && u.id === admin.id) throw new AppError("BAD_REQUEST", "you cannot disable your own account");
  if (req.disabled && u.role === "admin" && (await otherActiveAdmins(ctx, u.id)) === 0) {
    throw lastAdmin();
  }
  await ctx.prisma.$transaction(async (tx) => {
    await tx.user.update({ where: { id: u.id }, data: { disabled: req.disabled } });
    if (req.disabled) await tx.session.deleteMany({ where: { userId: u.id } });
  });
  await auditBy(ctx, admin, meta, req.disabled ? "user.disable" : "user.enable", u.email, { userId: u.id });
  return { disabled: req.disabled };
}

/** Deletes the account, its sessions, device tokens, memberships, ACL grants and share links; its files stay (owner cleared). */
export async function deleteUser(
  ctx: ControlContext,
  admin: AuthUser,
  input: unknown,
  meta: Meta = {},
): Promise<{ deleted: boolean }> {
  const { id } = ZUserId.parse(input);
  const u = await target(ctx, id);
  if (u.id === admin.id) throw new AppError("BAD_REQUEST", "you cannot delete your own account");
  if (u.role === "admin" && (await otherActiveAdmins(ctx, u.id)) === 0) {
    throw lastAdmin();
  }
  await ctx.prisma.user.delete({ where: { id: u.id } });
  await auditBy(ctx, admin, meta, "user.delete", u.email, { userId: u.id, role: u.role });
  return { deleted: true };
}

/** Sets a new password (the user is signed out of their browser sessions) and lifts a lock-out. */
export async function resetPassword(
  ctx: ControlContext,
  admin: AuthUser,
  input: unknown,
  meta: Meta = {},
): Promise<{ reset: boolean }> {
  const req = ZResetPassword.parse(input);
  const u = await target(ctx, req.id);
  const passwordHash = await hashPassword(req.password);
  await ctx.prisma.$transaction(async (tx) => {
    const { count } = await tx.account.updateMany({
      where: { userId: u.id, providerId: "credential" },
      data: { password: passwordHash },
    });
    if (count === 0) {
      await tx.account.create({ data: credentialAccount(u.id, passwordHash) });
    }
    if (u.id !== admin.id) await tx.session.deleteMany({ where: { userId: u.id } });
  });
  await auditBy(ctx, admin, meta, "user.password.reset", u.email, { userId: u.id });
  return { reset: true };
}

export async function setUserRole(
  ctx: ControlContext,
  admin: AuthUser,
  input: unknown,
  meta: Meta = {},
): Promise<{ role: "admin" | "user" }> {
  const req = ZSetRole.parse(input);
  const u = await target(ctx, req.id);
  if (u.role === req.role) return { role: req.role };
  if (req.role === "user" && (await otherActiveAdmins(ctx, u.id)) === 0) {
    throw lastAdmin();
  }
  await ctx.prisma.user.update({ where: { id: u.id }, data: { role: req.role } });
  await auditBy(ctx, admin, meta, "user.role", u.email, { userId: u.id, before: u.role, after: req.role });
  return { role: req.role };
}

export async function setUserQuota(
  ctx: ControlContext,
  admin: AuthUser,
  input: unknown,
  meta: Meta = {},
): Promise<{ quotaBytes: number | null }> {
  const req = ZSetQuota.parse(input);
  const u = await target(ctx, req.id);
  await ctx.prisma.user.update({
    where: { id: u.id },
    data: { quotaBytes: quotaBigInt(req.quotaBytes) },
  });
  await auditBy(ctx, admin, meta, "user.quota", u.email, {
    userId: u.id,
    before: quotaNumber(u.quotaBytes),
    after: req.quotaBytes,
  });
  return { quotaBytes: req.quotaBytes };
}

/** Lifts a sign-in lock-out before it expires. */
export async function unlockUser(
  ctx: ControlContext,
  admin: AuthUser,
  input: unknown,
  meta: Meta = {},
): Promise<{ unlocked: boolean }> {
  const { id } = ZUserId.parse(input);
  const u = await target(ctx, id);
  await auditBy(ctx, admin, meta, "user.unlock", u.email, { userId: u.id });
  return { unlocked: true };
}

export const ZRevokeDevice = z.object({ id: z.uuid() });

/**
 * Revokes a device token. Its owner may revoke their own; admins anyone's. Someone
 * else's token answers NOT_FOUND, as if it did not exist.
 */
export async function revokeDeviceToken(
  ctx: ControlContext,
  actor: AuthUser,
  input: unknown,
  meta: Meta = {},
): Promise<{ revoked: boolean }> {
  const { id } = ZRevokeDevice.parse(input);
  const row = await ctx.prisma.deviceToken.findUnique({
    where: { id },
    include: { user: { select: { email: true } } },
  });
  if (!row || (row.userId !== actor.id && actor.role !== "admin")) {
    throw new AppError("NOT_FOUND", "no such device token");
  }
  const { count } = await ctx.prisma.deviceToken.updateMany({
    where: { id, revokedAt: null },
    data: { revokedAt: new Date() },
  });
  if (count > 0) {
    await auditBy(ctx, actor, meta, "device-token.revoke", row.user.email, { tokenId: id, device: row.name });
  }
  return { revoked: count > 0 };
}
