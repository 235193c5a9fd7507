import { z } from "zod";
import { AppError } from "@cumulus/protocol/errors";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { audit } from "../audit/audit.ts";
import { isUniqueViolation } from "../fs/tree.ts";

/** Groups of users (ACL grants and IP rules can name a group). Admins only; audited. */

type Meta = { ip?: string | null };

export const ZGroupName = z
  .string()
  .trim()
  .min(1, { message: "enter a group name" })
  .max(100)
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f\u007f]+$/, { message: "group names cannot contain control characters" });
export const ZGroupId = z.object({ id: z.uuid() });
export const ZCreateGroup = z.object({ name: ZGroupName });
export const ZMember = z.object({ groupId: z.uuid(), userId: z.uuid() });

export type GroupSummary = { id: string; name: string; members: number; createdAt: string };
export type GroupDetail = GroupSummary & {
  memberList: { id: string; email: string; name: string; role: "admin" | "user"; disabled: boolean }[];
  grants: number;
  ipRules: number;
};

export async function listGroups(ctx: ControlContext): Promise<GroupSummary[]> {
  const rows = await ctx.prisma.group.findMany({
    orderBy: { name: "asc" },
    include: { _count: { select: { members: true } } },
  });
  return rows.map((g) => ({ id: g.id, name: g.name, members: g._count.members, createdAt: g.createdAt.toISOString() }));
}

export async function getGroup(ctx: ControlContext, input: unknown): Promise<GroupDetail> {
  const { id } = ZGroupId.parse(input);
  const g = await ctx.prisma.group.findUnique({
    where: { id },
    include: {
      members: { include: { user: true } },
      _count: { select: { acl: true, ipRules: true, members: true } },
    },
  });
  if (!g) throw new AppError("NOT_FOUND", "no such group (deleted?)");
  return {
    id: g.id,
    name: g.name,
    members: g._count.members,
    createdAt: g.createdAt.toISOString(),
    memberList: g.members
      .map((m) => ({
        id: m.user.id,
        email: m.user.email,
        name: m.user.name,
        role: m.user.role,
        disabled: m.user.disabled,
      }))
      .sort((a, b) => a.email.localeCompare(b.email)),
    grants: g._count.acl,
    ipRules: g._count.ipRules,
  };
}

export async function createGroup(ctx: ControlContext, admin: AuthUser, input: unknown, meta: Meta = {}) {
  const { name } = ZCreateGroup.parse(input);
  try {
    const g = await ctx.prisma.group.create({ data: { name } });
    await audit(ctx, {
      action: "group.create",
      actor: admin.email,
      actorId: admin.id,
      target: name,
      ip: meta.ip ?? null,
      details: { groupId: g.id },
    });
    return { id: g.id, name: g.name, members: 0, createdAt: g.createdAt.toISOString() } satisfies GroupSummary;
  } catch (err) {
    if (isUniqueViolation(err)) throw new AppError("ALREADY_EXISTS", `there is already a group named ${name}`);
    throw err;
  }
}

/** Deletes the group with its memberships, ACL grants and IP rules. */
export async function deleteGroup(ctx: ControlContext, admin: AuthUser, input: unknown, meta: Meta = {}) {
  const { id } = ZGroupId.parse(input);
  const g = await ctx.prisma.group.findUnique({ where: { id } });
  if (!g) throw new AppError("NOT_FOUND", "no such group (already deleted?)");
  await ctx.prisma.group.delete({ where: { id } });
  await audit(ctx, {
    action: "group.delete",
    actor: admin.email,
    actorId: admin.id,
    target: g.name,
    ip: meta.ip ?? null,
    details: { groupId: id },
  });
  return { deleted: true };
}

export async function addGroupMember(ctx: ControlContext, admin: AuthUser, input: unknown, meta: Meta = {}) {
  const req = ZMember.parse(input);
  const [g, u] = await Promise.all([
    ctx.prisma.group.findUnique({ where: { id: req.groupId } }),
    ctx.prisma.user.findUnique({ where: { id: req.userId } }),
  ]);
  if (!g) throw new AppError("NOT_FOUND", "no such group");
  if (!u) throw new AppError("NOT_FOUND", "no such user");
  const { count } = await ctx.prisma.groupMember.createMany({ data: [req], skipDuplicates: true });
  if (count > 0) {
    await audit(ctx, {
      action: "group.member.add",
      actor: admin.email,
      actorId: admin.id,
      target: g.name,
      ip: meta.ip ?? null,
      details: { groupId: g.id, userId: u.id, email: u.email },
    });
  }
  return { added: count > 0 };
}

export async function removeGroupMember(ctx: ControlContext, admin: AuthUser, input: unknown, meta: Meta = {}) {
  const req = ZMember.parse(input);
  const g = await ctx.prisma.group.findUnique({ where: { id: req.groupId } });
  if (!g) throw new AppError("NOT_FOUND", "no such group");
  const u = await ctx.prisma.user.findUnique({ where: { id: req.userId }, select: { email: true } });
  const { count } = await ctx.prisma.groupMember.deleteMany({ where: req });
  if (count > 0) {
    await audit(ctx, {
      action: "group.member.remove",
      actor: admin.email,
      actorId: admin.id,
      target: g.name,
      ip: meta.ip ?? null,
      details: { groupId: g.id, userId: req.userId, email: u?.email ?? null },
    });
  }
  return { removed: count > 0 };
}
