import { z } from "zod";
import { AppError } from "@cumulus/protocol/errors";
import type { ControlContext } from "../context.ts";
import { LEVEL, type AuthUser, type Db, type Permission } from "../access/access.ts";
import { auditInTx } from "../changes/record.ts";
import { joinPath, pathsOf, resolveEntry, TX_OPTIONS } from "../fs/tree.ts";

/**
 * Sharing with people: ACL rows (`AclEntry`) that give a user or a group read, write or
 * manage on an entry and, through inheritance, on everything below it. The access rule
 * itself lives in access/access.ts; these functions only create, list and remove rows.
 */

export const ZPermission = z.enum(["read", "write", "manage"]);

export const ZPrincipal = z.discriminatedUnion("type", [
  z.object({ type: z.literal("user"), email: z.string().min(3).max(320) }),
  z.object({ type: z.literal("group"), name: z.string().min(1).max(200) }),
]);

export const ZGrantRequest = z.object({
  path: z.string().min(1).max(4096),
  principal: ZPrincipal,
  permission: ZPermission,
});
export const ZRevokeGrantRequest = z.object({ path: z.string().min(1).max(4096), grantId: z.uuid() });
export const ZGrantsQuery = z.object({ path: z.string().min(1).max(4096) });

export type Grant = {
  id: string;
  principal: { type: "user"; id: string; email: string; name: string } | { type: "group"; id: string; name: string };
  permission: Permission;
  /** Path of the entry the grant is on: this entry's own path, or an ancestor's it inherits. */
  on: string;
  inherited: boolean;
  createdAt: string;
};

export type GrantsResponse = {
  path: string;
  /** The caller may add and remove grants here. */
  canManage: boolean;
  owner: string | null;
  grants: Grant[];
};

type AclRow = {
  id: string;
  entryId: string;
  permission: Permission;
  createdAt: Date;
  user: { id: string; email: string; name: string } | null;
  group: { id: string; name: string } | null;
};

function toGrant(r: AclRow, on: string, inherited: boolean): Grant {
  return {
    id: r.id,
    principal: r.user
      ? { type: "user", id: r.user.id, email: r.user.email, name: r.user.name }
      : { type: "group", id: r.group!.id, name: r.group!.name },
    permission: r.permission,
    on,
    inherited,
    createdAt: r.createdAt.toISOString(),
  };
}

async function ancestorIds(db: Db, id: string): Promise<string[]> {
  const rows = await db.$queryRaw<{ id: string; depth: number }[]>`
    WITH RECURSIVE up(id, "parentId", depth) AS (
      SELECT e.id, e."parentId", 0 FROM "Entry" e WHERE e.id = ${id}::uuid
      UNION ALL
      SELECT p.id, p."parentId", up.depth + 1 FROM up JOIN "Entry" p ON p.id = up."parentId"
    )
    SELECT id::text AS id, depth::int AS depth FROM up ORDER BY depth`;
  return rows.map((r) => r.id);
}

/**
 * The grants that apply to an entry: its own (removable here) and those inherited from
 * its ancestors. Anyone who can read the entry may see who else can.
 */
export async function listGrants(ctx: ControlContext, user: AuthUser, input: unknown): Promise<GrantsResponse> {
  const q = ZGrantsQuery.parse(input);
  const r = await resolveEntry(ctx.prisma, user, q.path, "read");
  const chain = await ancestorIds(ctx.prisma, r.entry.id);
  const rows = (await ctx.prisma.aclEntry.findMany({
    where: { entryId: { in: chain } },
    include: { user: { select: { id: true, email: true, name: true } }, group: { select: { id: true, name: true } } },
    orderBy: { createdAt: "asc" },
  })) as AclRow[];
  const paths = await pathsOf(
    ctx.prisma,
    rows.map((x) => x.entryId),
  );
  const depth = new Map(chain.map((id, i) => [id, i] as const));
  rows.sort((a, b) => depth.get(a.entryId)! - depth.get(b.entryId)! || a.createdAt.getTime() - b.createdAt.getTime());
  return {
    path: r.path,
    canManage: r.level >= LEVEL.manage,
    owner: r.entry.owner?.email ?? null,
    grants: rows.map((x) => toGrant(x, paths.get(x.entryId) ?? r.path, x.entryId !== r.entry.id)),
  };
}

async function findPrincipal(
  db: Db,
  p: z.infer<typeof ZPrincipal>,
): Promise<{ userId: string | null; groupId: string | null; label: string }> {
  if (p.type === "user") {
    const email = p.email.trim().toLowerCase();
    const u = await db.user.findUnique({ where: { email }, select: { id: true, email: true } });
    if (!u) throw new AppError("NOT_FOUND", `no user with the e-mail address ${email}`);
    return { userId: u.id, groupId: null, label: `user:${u.email}` };
  }
  const g = await db.group.findUnique({ where: { name: p.name.trim() }, select: { id: true, name: true } });
  if (!g) throw new AppError("NOT_FOUND", `no group named ${p.name.trim()}`);
  return { userId: null, groupId: g.id, label: `group:${g.name}` };
}

/**
 * Shares an entry with a user or group (needs manage on it). Granting again changes the
 * permission of the existing grant instead of adding a second one.
 */
export async function grantShare(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  meta: { ip?: string | null } = {},
): Promise<GrantsResponse> {
  const req = ZGrantRequest.parse(input);
  const r = await resolveEntry(ctx.prisma, user, req.path, "manage");
  const who = await findPrincipal(ctx.prisma, req.principal);
  if (who.userId !== null && who.userId === r.entry.ownerId) {
    throw new AppError("BAD_REQUEST", `${who.label.slice(5)} owns ${r.path}: there is nothing to share with them`);
  }
  await ctx.prisma.$transaction(async (tx) => {
    // Serialises grants on one entry: the unique index cannot, its NULL columns are distinct.
    const live = await tx.$queryRaw<{ live: boolean }[]>`
      SELECT ("liveName" IS NOT NULL) AS live FROM "Entry" WHERE id = ${r.entry.id}::uuid FOR UPDATE`;
    if (!live[0]?.live) throw new AppError("CONFLICT", `${r.path} was moved or deleted meanwhile: look again`);
    const existing = await tx.aclEntry.findFirst({
      where: { entryId: r.entry.id, userId: who.userId, groupId: who.groupId },
    });
    let aclId: string;
    if (existing) {
      await tx.aclEntry.update({ where: { id: existing.id }, data: { permission: req.permission } });
      aclId = existing.id;
    } else {
      const created = await tx.aclEntry.create({
        data: { entryId: r.entry.id, userId: who.userId, groupId: who.groupId, permission: req.permission },
        select: { id: true },
      });
      aclId = created.id;
    }
    await auditInTx(tx, {
      action: "share.grant",
      actor: user,
      target: r.path,
      ip: meta.ip ?? null,
      details: {
        aclId,
        entryId: r.entry.id,
        principal: who.label,
        permission: req.permission,
        ...(existing ? { previous: existing.permission } : {}),
      },
    });
  }, TX_OPTIONS);
  return listGrants(ctx, user, { path: r.path });
}

/** Removes one grant made on this entry (inherited ones are removed where they were made). */
export async function revokeShare(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  meta: { ip?: string | null } = {},
): Promise<GrantsResponse> {
  const req = ZRevokeGrantRequest.parse(input);
  const r = await resolveEntry(ctx.prisma, user, req.path, "manage");
  await ctx.prisma.$transaction(async (tx) => {
    const row = await tx.aclEntry.findUnique({
      where: { id: req.grantId },
      include: { user: { select: { email: true } }, group: { select: { name: true } } },
    });
    if (!row || row.entryId !== r.entry.id) {
      throw new AppError(
        "NOT_FOUND",
        `${r.path} has no grant ${req.grantId} of its own (inherited grants are removed on the folder that has them)`,
      );
    }
    await tx.aclEntry.delete({ where: { id: row.id } });
    await auditInTx(tx, {
      action: "share.revoke",
      actor: user,
      target: r.path,
      ip: meta.ip ?? null,
      details: {
        aclId: row.id,
        entryId: r.entry.id,
        principal: row.user ? `user:${row.user.email}` : `group:${row.group?.name ?? "?"}`,
        permission: row.permission,
      },
    });
  }, TX_OPTIONS);
  return listGrants(ctx, user, { path: r.path });
}

export const ZPrincipalQuery = z.object({ q: z.string().max(200).default("") });

/**
 * A fixed-window counter per user. In memory, so per control-plane process: behind a
 * load balancer a user gets this many per instance, which still stops a script walking
 * the directory a few letters at a time.
 */
export class SuggestLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();
  readonly limit: number;
  readonly windowMs: number;
  constructor(limit = 60, windowMs = 60_000) {
    this.limit = limit;
    this.windowMs = windowMs;
  }
  /** Counts one call; returns the ms to wait when over the limit, else 0. */
  take(key: string, now: number): number {
    const w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs) {
      if (this.windows.size > 10_000) this.windows.clear();
      this.windows.set(key, { start: now, count: 1 });
      return 0;
    }
    if (w.count >= this.limit) return w.start + this.windowMs - now;
    w.count++;
    return 0;
  }
}

const suggestLimiter = new SuggestLimiter();
const MAX_SUGGESTIONS = 10;

/**
 * The share dialog's suggestions. A directory of every account is not something a
 * normal user gets to read (it is a phishing list), so, as in mainstream file-sharing
 * products: people who share a group with the caller and match `q`, plus the one account
 * whose e-mail is exactly `q`; the caller's own groups matching `q`, plus the group named
 * exactly `q`. Admins, who manage every account anyway, get plain substring matches.
 * Rate-limited per user (RATE_LIMITED).
 */
export async function suggestPrincipals(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  opts: { limiter?: SuggestLimiter; now?: number } = {},
): Promise<{ users: { id: string; email: string; name: string }[]; groups: { id: string; name: string }[] }> {
  const q = ZPrincipalQuery.parse(input).q.trim();
  const limiter = opts.limiter ?? suggestLimiter;
  const wait = limiter.take(user.id, opts.now ?? Date.now());
  if (wait > 0) {
    throw new AppError(
      "RATE_LIMITED",
      `too many share suggestions asked for (${limiter.limit} a minute): wait ${Math.ceil(wait / 1000)} s, or type the full e-mail address`,
      { retryAfterMs: wait },
    );
  }
  const contains = { contains: q, mode: "insensitive" as const };
  const exact = { equals: q, mode: "insensitive" as const };
  const userSelect = { id: true, email: true, name: true } as const;
  const matchUser = q === "" ? {} : { OR: [{ email: contains }, { name: contains }] };
  const matchGroup = q === "" ? {} : { name: contains };
  const admin = user.role === "admin";
  const sameGroup = { memberships: { some: { group: { members: { some: { userId: user.id } } } } } };

  const [users, exactUser, groups, exactGroup] = await Promise.all([
    ctx.prisma.user.findMany({
      where: { disabled: false, id: { not: user.id }, ...matchUser, ...(admin ? {} : sameGroup) },
      select: userSelect,
      orderBy: { email: "asc" },
      take: MAX_SUGGESTIONS,
    }),
    q.includes("@")
      ? ctx.prisma.user.findFirst({
          where: { disabled: false, id: { not: user.id }, email: exact },
          select: userSelect,
        })
      : null,
    ctx.prisma.group.findMany({
      where: { ...matchGroup, ...(admin ? {} : { members: { some: { userId: user.id } } }) },
      select: { id: true, name: true },
      orderBy: { name: "asc" },
      take: MAX_SUGGESTIONS,
    }),
    q === "" ? null : ctx.prisma.group.findFirst({ where: { name: exact }, select: { id: true, name: true } }),
  ]);
  if (exactUser && !users.some((u) => u.id === exactUser.id)) users.unshift(exactUser);
  if (exactGroup && !groups.some((g) => g.id === exactGroup.id)) groups.unshift(exactGroup);
  return { users: users.slice(0, MAX_SUGGESTIONS), groups: groups.slice(0, MAX_SUGGESTIONS) };
}

export type SharedItem = {
  id: string;
  name: string;
  path: string;
  type: "folder" | "file";
  size: number;
  modifiedAt: string;
  owner: string | null;
  /** Who made the grant (from the audit log), else the owner. */
  sharedBy: string | null;
  /** The best permission the user's grants on this entry give (directly or via a group). */
  permission: Permission;
  via: string[];
  sharedAt: string;
};

/**
 * "Shared with me": live entries on which an ACL row grants the user (or one of their
 * groups) access, other than the user's own entries, newest grant first.
 */
export async function sharedWithMe(ctx: ControlContext, user: AuthUser): Promise<{ items: SharedItem[] }> {
  const rows = await ctx.prisma.$queryRaw<
    {
      aclId: string;
      entryId: string;
      permission: Permission;
      createdAt: Date;
      groupName: string | null;
    }[]
  >`
    WITH RECURSIVE mine AS (
      SELECT a.id, a."entryId", a.permission, a."createdAt", g.name AS "groupName"
      FROM "AclEntry" a
      LEFT JOIN "Group" g ON g.id = a."groupId"
      WHERE a."userId" = ${user.id}::uuid
         OR a."groupId" IN (SELECT m."groupId" FROM "GroupMember" m WHERE m."userId" = ${user.id}::uuid)
    ), up(start, id, "parentId", "liveName") AS (
      SELECT e.id, e.id, e."parentId", e."liveName" FROM "Entry" e WHERE e.id IN (SELECT "entryId" FROM mine)
      UNION ALL
      SELECT up.start, p.id, p."parentId", p."liveName" FROM up JOIN "Entry" p ON p.id = up."parentId"
    ), live AS (
      SELECT start FROM up GROUP BY start HAVING bool_and("liveName" IS NOT NULL)
    )
    SELECT mine.id::text AS "aclId", mine."entryId"::text AS "entryId", mine.permission::text AS permission,
           mine."createdAt", mine."groupName"
    FROM mine JOIN live ON live.start = mine."entryId"
    JOIN "Entry" e ON e.id = mine."entryId"
    WHERE e."ownerId" IS DISTINCT FROM ${user.id}::uuid
    ORDER BY mine."createdAt" DESC
    LIMIT 2000`;
  if (rows.length === 0) return { items: [] };
  const ids = [...new Set(rows.map((r) => r.entryId))];
  const [entries, paths, grantEvents] = await Promise.all([
    ctx.prisma.entry.findMany({ where: { id: { in: ids } }, include: { owner: { select: { email: true } } } }),
    pathsOf(ctx.prisma, ids),
    ctx.prisma.$queryRaw<{ aclId: string; actor: string | null }[]>`
      SELECT DISTINCT ON (details->>'aclId') details->>'aclId' AS "aclId", actor
      FROM "AuditEvent"
      WHERE action = 'share.grant' AND details->>'aclId' = ANY(${rows.map((r) => r.aclId)}::text[])
      ORDER BY details->>'aclId', at ASC`,
  ]);
  const byId = new Map(entries.map((e) => [e.id, e] as const));
  const sharer = new Map(grantEvents.map((g) => [g.aclId, g.actor] as const));
  const items = new Map<string, SharedItem>();
  for (const r of rows) {
    const e = byId.get(r.entryId);
    if (!e) continue;
    const via = r.groupName ? `group ${r.groupName}` : "you";
    const prev = items.get(e.id);
    if (prev) {
      if (LEVEL[r.permission] > LEVEL[prev.permission]) prev.permission = r.permission;
      if (!prev.via.includes(via)) prev.via.push(via);
      continue;
    }
    items.set(e.id, {
      id: e.id,
      name: e.name,
      path: paths.get(e.id) ?? joinPath("/", e.name),
      type: e.type,
      size: Number(e.size),
      modifiedAt: e.updatedAt.toISOString(),
      owner: e.owner?.email ?? null,
      sharedBy: sharer.get(r.aclId) ?? e.owner?.email ?? null,
      permission: r.permission,
      via: [via],
      sharedAt: r.createdAt.toISOString(),
    });
  }
  return { items: [...items.values()] };
}
