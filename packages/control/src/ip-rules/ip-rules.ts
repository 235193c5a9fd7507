import { z } from "zod";
import { AppError } from "@cumulus/protocol/errors";
import type { ControlContext } from "../context.ts";
import type { AuthUser, Db } from "../access/access.ts";
import { audit } from "../audit/audit.ts";
import { normalizeIp, parseCidr } from "./cidr.ts";
import { evaluateIpRules, type IpDecision, type IpRuleLike } from "./evaluate.ts";

export type IpRuleRow = {
  id: string;
  cidr: string;
  action: "allow" | "deny";
  scope: "user" | "group" | "global";
  userId: string | null;
  userEmail: string | null;
  groupId: string | null;
  groupName: string | null;
  createdAt: string;
};

/** The rules that apply to a user (their own, their groups', the global ones), or only the global ones. */
export async function applicableRules(db: Db, userId: string | null): Promise<IpRuleLike[]> {
  const rows = await db.ipRule.findMany({
    where: userId
      ? {
          OR: [{ userId }, { group: { members: { some: { userId } } } }, { userId: null, groupId: null }],
        }
      : { userId: null, groupId: null },
    include: { group: { select: { name: true } } },
    orderBy: { createdAt: "asc" },
  });
  return rows.map((r) => ({
    id: r.id,
    cidr: r.cidr,
    action: r.action,
    scope: r.userId ? "user" : r.groupId ? "group" : "global",
    groupName: r.group?.name ?? null,
  }));
}

/** Decides whether `ip` may act as `userId` (or anonymously, when null). */
export async function decideIp(db: Db, userId: string | null, ip: string | null): Promise<IpDecision> {
  return evaluateIpRules(normalizeIp(ip) ?? ip, await applicableRules(db, userId));
}

/** The refusal every entry point answers a denied address with. */
export function ipDeniedError(ip: string | null): AppError {
  return new AppError(
    "FORBIDDEN",
    `access from your address (${normalizeIp(ip) ?? ip ?? "unknown"}) is not allowed by the IP access rules: ask an administrator`,
    { reason: "ip-denied" },
  );
}

/** Throws FORBIDDEN (and audits it) when the IP rules refuse `ip` for this user. */
export async function assertIpAllowed(
  ctx: ControlContext,
  user: { id: string; email: string } | null,
  ip: string | null,
  via: string,
): Promise<void> {
  const d = await decideIp(ctx.prisma, user?.id ?? null, ip);
  if (d.allowed) return;
  await audit(ctx, {
    action: "ip.denied",
    actor: user?.email ?? "anonymous",
    actorId: user?.id ?? null,
    target: via,
    ip,
    outcome: "denied",
    details: { reason: d.reason },
  });
  throw ipDeniedError(ip);
}

// --- administration --------------------------------------------------------------

export const ZCreateIpRule = z
  .object({
    cidr: z.string().min(1).max(64),
    action: z.enum(["allow", "deny"]),
    userId: z.uuid().nullable().default(null),
    groupId: z.uuid().nullable().default(null),
    /** Create it even though it would lock the acting admin out. */
    force: z.boolean().default(false),
  })
  .refine((r) => !(r.userId && r.groupId), { message: "a rule is for a user, a group or everyone, not several" });

export async function listIpRules(ctx: ControlContext): Promise<IpRuleRow[]> {
  const rows = await ctx.prisma.ipRule.findMany({
    include: { user: { select: { email: true } }, group: { select: { name: true } } },
    orderBy: [{ createdAt: "asc" }],
  });
  return rows.map((r) => ({
    id: r.id,
    cidr: r.cidr,
    action: r.action,
    scope: r.userId ? "user" : r.groupId ? "group" : "global",
    userId: r.userId,
    userEmail: r.user?.email ?? null,
    groupId: r.groupId,
    groupName: r.group?.name ?? null,
    createdAt: r.createdAt.toISOString(),
  }));
}

export async function createIpRule(
  ctx: ControlContext,
  admin: AuthUser,
  input: unknown,
  meta: { ip?: string | null } = {},
): Promise<IpRuleRow> {
  const req = ZCreateIpRule.parse(input);
  const parsed = parseCidr(req.cidr);
  if (!parsed.ok) throw new AppError("BAD_REQUEST", parsed.error);
  let target = "everyone";
  if (req.userId) {
    const u = await ctx.prisma.user.findUnique({ where: { id: req.userId }, select: { email: true } });
    if (!u) throw new AppError("NOT_FOUND", "no such user");
    target = u.email;
  }
  if (req.groupId) {
    const g = await ctx.prisma.group.findUnique({ where: { id: req.groupId }, select: { name: true } });
    if (!g) throw new AppError("NOT_FOUND", "no such group");
    target = `group ${g.name}`;
  }
  const dup = await ctx.prisma.ipRule.findFirst({
    where: { cidr: parsed.canonical, action: req.action, userId: req.userId, groupId: req.groupId },
  });
  if (dup)
    throw new AppError("ALREADY_EXISTS", `there is already a rule to ${req.action} ${parsed.canonical} for ${target}`);

  // Would this rule lock the acting admin out of the address they use now?
  if (!req.force && meta.ip) {
    const rules = await applicableRules(ctx.prisma, admin.id);
    const inScope =
      req.userId === null && req.groupId === null
        ? true
        : req.userId === admin.id ||
          (req.groupId !== null &&
            (await ctx.prisma.groupMember.count({ where: { groupId: req.groupId, userId: admin.id } })) > 0);
    if (inScope) {
      const scope = req.userId ? "user" : req.groupId ? "group" : "global";
      const after = evaluateIpRules(normalizeIp(meta.ip) ?? meta.ip, [
        ...rules,
        { cidr: parsed.canonical, action: req.action, scope },
      ]);
      if (!after.allowed) {
        throw new AppError(
          "CONFLICT",
          `this rule would refuse your own address (${normalizeIp(meta.ip) ?? meta.ip}): ${after.reason}. Create it anyway only if you can reach the cluster from another address`,
          { lockout: true },
        );
      }
    }
  }

  const row = await ctx.prisma.ipRule.create({
    data: { cidr: parsed.canonical, action: req.action, userId: req.userId, groupId: req.groupId },
  });
  await audit(ctx, {
    action: "ip-rule.create",
    actor: admin.email,
    actorId: admin.id,
    target,
    ip: meta.ip ?? null,
    details: { ruleId: row.id, cidr: parsed.canonical, action: req.action, force: req.force },
  });
  return (await listIpRules(ctx)).find((r) => r.id === row.id)!;
}

export async function deleteIpRule(
  ctx: ControlContext,
  admin: AuthUser,
  input: unknown,
  meta: { ip?: string | null } = {},
): Promise<{ deleted: boolean }> {
  const { id } = z.object({ id: z.uuid() }).parse(input);
  const row = await ctx.prisma.ipRule.findUnique({
    where: { id },
    include: { user: { select: { email: true } }, group: { select: { name: true } } },
  });
  if (!row) throw new AppError("NOT_FOUND", "no such IP rule (already deleted?)");
  await ctx.prisma.ipRule.delete({ where: { id } });
  await audit(ctx, {
    action: "ip-rule.delete",
    actor: admin.email,
    actorId: admin.id,
    target: row.user?.email ?? (row.group ? `group ${row.group.name}` : "everyone"),
    ip: meta.ip ?? null,
    details: { ruleId: id, cidr: row.cidr, action: row.action },
  });
  return { deleted: true };
}

export const ZTestIp = z.object({ ip: z.string().min(1).max(64), userId: z.uuid().nullable().default(null) });

/** The admin page's "test an address" box: what would happen to `ip` (for a user, or anonymously). */
export async function testIpAddress(
  ctx: ControlContext,
  input: unknown,
): Promise<IpDecision & { ip: string; user: string | null }> {
  const req = ZTestIp.parse(input);
  const ip = normalizeIp(req.ip);
  if (!ip) throw new AppError("BAD_REQUEST", `${req.ip} is not an IPv4 or IPv6 address`);
  let email: string | null = null;
  if (req.userId) {
    const u = await ctx.prisma.user.findUnique({ where: { id: req.userId }, select: { email: true } });
    if (!u) throw new AppError("NOT_FOUND", "no such user");
    email = u.email;
  }
  const d = await decideIp(ctx.prisma, req.userId, ip);
  return { ...d, ip, user: email };
}
