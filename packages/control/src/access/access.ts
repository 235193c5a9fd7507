import type { Prisma, PrismaClient } from "@cumulus/db/client";
import type { ControlContext } from "../context.ts";

/** Either the pool or an open transaction: read helpers work inside and outside one. */
export type Db = PrismaClient | Prisma.TransactionClient;

/** The signed-in user a request acts for. */
export type AuthUser = {
  id: string;
  email: string;
  name: string;
  role: "admin" | "user";
  /** Device token the request came with; null for other credentials. */
  tokenId: string | null;
  /** Browser session the request came with (better-auth Session.id), when it did. */
  sessionId?: string | null;
};

export type Permission = "read" | "write" | "manage";

/** Permissions are ordered: manage implies write implies read. */
export const LEVEL = { none: 0, read: 1, write: 2, manage: 3 } as const;
export type Level = 0 | 1 | 2 | 3;

export function levelOf(p: Permission): Level {
  return LEVEL[p];
}

/**
 * What `user` may do with each entry, derived from the entry and all its ancestors in one
 * query: owning the entry or an ancestor gives manage, an ACL row (for the user or one of
 * their groups) on the entry or an ancestor gives its permission, a public entry is
 * readable. Trashed entries keep their parent, so the answer for them is the one of
 * their original place.
 */
export async function permissionLevels(db: Db, user: AuthUser, ids: readonly string[]): Promise<Map<string, Level>> {
  const out = new Map<string, Level>();
  const unique = [...new Set(ids)];
  if (unique.length === 0) return out;
  if (user.role === "admin") {
    for (const id of unique) out.set(id, LEVEL.manage);
    return out;
  }
  const rows = await db.$queryRaw<{ start: string; level: number | null }[]>`
    WITH RECURSIVE up(start, id, "parentId", "ownerId", "isPublic") AS (
      SELECT e.id, e.id, e."parentId", e."ownerId", e."isPublic" FROM "Entry" e WHERE e.id = ANY(${unique}::uuid[])
      UNION ALL
      SELECT up.start, p.id, p."parentId", p."ownerId", p."isPublic" FROM up JOIN "Entry" p ON p.id = up."parentId"
    )
    SELECT up.start::text AS start, GREATEST(
      MAX(CASE WHEN up."ownerId" = ${user.id}::uuid THEN 3 ELSE 0 END),
      MAX(CASE WHEN up."isPublic" THEN 1 ELSE 0 END),
      COALESCE(MAX(CASE a.permission WHEN 'read' THEN 1 WHEN 'write' THEN 2 WHEN 'manage' THEN 3 END), 0)
    )::int AS level
    FROM up
    LEFT JOIN "AclEntry" a ON a."entryId" = up.id AND (
      a."userId" = ${user.id}::uuid
      OR a."groupId" IN (SELECT m."groupId" FROM "GroupMember" m WHERE m."userId" = ${user.id}::uuid)
    )
    GROUP BY up.start`;
  for (const r of rows) out.set(r.start, Math.min(3, Math.max(0, r.level ?? 0)) as Level);
  for (const id of unique) if (!out.has(id)) out.set(id, LEVEL.none);
  return out;
}

export async function permissionLevel(db: Db, user: AuthUser, id: string): Promise<Level> {
  return (await permissionLevels(db, user, [id])).get(id) ?? LEVEL.none;
}

/** The access rule of the namespace (see permissionLevels); admins may do everything. */
export async function canAccess(
  ctx: ControlContext,
  user: AuthUser,
  entry: { id: string },
  need: Permission,
): Promise<boolean> {
  return (await permissionLevel(ctx.prisma, user, entry.id)) >= levelOf(need);
}

/**
 * Folders a user may pass through without being able to read them: the ancestors of
 * everything they were given (their home, ACL grants, public entries). Listing "/" shows
 * a user the way to their own things and nothing else.
 */
export async function traversableIds(db: Db, user: AuthUser): Promise<Set<string>> {
  const rows = await db.$queryRaw<{ id: string }[]>`
    WITH RECURSIVE grants(id) AS (
      SELECT e.id FROM "Entry" e
      WHERE e."ownerId" = ${user.id}::uuid
        AND NOT EXISTS (SELECT 1 FROM "Entry" p WHERE p.id = e."parentId" AND p."ownerId" = ${user.id}::uuid)
      UNION
      SELECT a."entryId" FROM "AclEntry" a
      WHERE a."userId" = ${user.id}::uuid
         OR a."groupId" IN (SELECT m."groupId" FROM "GroupMember" m WHERE m."userId" = ${user.id}::uuid)
      UNION
      SELECT e.id FROM "Entry" e WHERE e."isPublic"
    ), up(id, "parentId") AS (
      SELECT e.id, e."parentId" FROM grants g JOIN "Entry" e ON e.id = g.id
      UNION
      SELECT p.id, p."parentId" FROM up JOIN "Entry" p ON p.id = up."parentId"
    )
    SELECT id::text AS id FROM up`;
  return new Set(rows.map((r) => r.id));
}
