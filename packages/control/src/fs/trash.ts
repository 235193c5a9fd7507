import { AppError } from "@cumulus/protocol/errors";
import { ZRestoreTrashRequest, type Entry as ApiEntry } from "@cumulus/protocol/api";
import type { ControlContext } from "../context.ts";
import { LEVEL, permissionLevel, type AuthUser } from "../access/access.ts";
import { auditInTx, recordChange } from "../changes/record.ts";
import type { TrashItem } from "./delete.ts";
import { assertWithinQuota, lockOwner, subtreeBytesByOwner } from "../uploads/quota.ts";
import { ENTRY_INCLUDE, isUniqueViolation, joinPath, pathOf, pathsOf, toApiEntry, TX_OPTIONS } from "./tree.ts";

const TRASH_PAGE = 1000;

/**
 * GET /api/v1/fs/trash — what the user deleted or could restore: trashed entries in
 * folders the user may write (admins: all), newest first.
 */
export async function listTrash(ctx: ControlContext, user: AuthUser): Promise<{ items: TrashItem[] }> {
  let ids: string[];
  if (user.role === "admin") {
    const rows = await ctx.prisma.entry.findMany({
      where: { trashedAt: { not: null } },
      orderBy: { trashedAt: "desc" },
      take: TRASH_PAGE,
      select: { id: true },
    });
    ids = rows.map((r) => r.id);
  } else {
    const rows = await ctx.prisma.$queryRaw<{ id: string }[]>`
      WITH RECURSIVE up(start, id, "parentId", "ownerId") AS (
        SELECT t.id, p.id, p."parentId", p."ownerId" FROM "Entry" t JOIN "Entry" p ON p.id = t."parentId"
        WHERE t."trashedAt" IS NOT NULL
        UNION ALL
        SELECT up.start, p.id, p."parentId", p."ownerId" FROM up JOIN "Entry" p ON p.id = up."parentId"
      ), writable AS (
        SELECT up.start FROM up
        LEFT JOIN "AclEntry" a ON a."entryId" = up.id AND (
          a."userId" = ${user.id}::uuid
          OR a."groupId" IN (SELECT m."groupId" FROM "GroupMember" m WHERE m."userId" = ${user.id}::uuid)
        )
        GROUP BY up.start
        HAVING bool_or(up."ownerId" = ${user.id}::uuid) OR bool_or(a.permission IN ('write', 'manage'))
      )
      SELECT e.id::text AS id FROM writable w JOIN "Entry" e ON e.id = w.start
      ORDER BY e."trashedAt" DESC LIMIT ${TRASH_PAGE}`;
    ids = rows.map((r) => r.id);
  }
  if (ids.length === 0) return { items: [] };
  const entries = await ctx.prisma.entry.findMany({ where: { id: { in: ids } }, orderBy: { trashedAt: "desc" } });
  const parents = await pathsOf(ctx.prisma, entries.map((e) => e.parentId!).filter(Boolean));
  return {
    items: entries.map((e) => ({
      id: e.id,
      name: e.name,
      originalPath: joinPath(parents.get(e.parentId!) ?? "/", e.name),
      type: e.type,
      size: Number(e.size),
      trashedAt: e.trashedAt!.toISOString(),
    })),
  };
}

function notInTrash(id: string): AppError {
  return new AppError("NOT_FOUND", `no such item in the trash: ${id}`);
}

/** POST /api/v1/fs/trash/restore — puts a trashed entry back where it was. */
export async function restoreFromTrash(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  meta: { ip?: string | null } = {},
): Promise<ApiEntry> {
  const req = ZRestoreTrashRequest.parse(input);
  const item = await ctx.prisma.entry.findUnique({ where: { id: req.id } });
  if (!item || item.trashedAt === null || item.parentId === null) throw notInTrash(req.id);
  if ((await permissionLevel(ctx.prisma, user, item.parentId)) < LEVEL.write) throw notInTrash(req.id);
  const parentPath = await pathOf(ctx.prisma, item.parentId);
  const path = joinPath(parentPath, item.name);

  try {
    const entry = await ctx.prisma.$transaction(async (tx) => {
      const rows = await tx.$queryRaw<{ trashed: boolean }[]>`
        SELECT ("trashedAt" IS NOT NULL) AS trashed FROM "Entry" WHERE id = ${item.id}::uuid FOR UPDATE`;
      if (!rows[0]?.trashed) throw notInTrash(req.id);
      // The original folder must be live: its own row FOR SHARE (so it cannot be trashed
      // before we commit) and every ancestor.
      await tx.$queryRaw`SELECT 1 FROM "Entry" WHERE id = ${item.parentId}::uuid FOR SHARE`;
      const dead = await tx.$queryRaw<{ id: string }[]>`
        WITH RECURSIVE up(id, "parentId", "liveName") AS (
          SELECT e.id, e."parentId", e."liveName" FROM "Entry" e WHERE e.id = ${item.parentId}::uuid
          UNION ALL
          SELECT p.id, p."parentId", p."liveName" FROM up JOIN "Entry" p ON p.id = up."parentId"
        )
        SELECT id::text AS id FROM up WHERE "liveName" IS NULL LIMIT 1`;
      if (dead.length > 0) {
        const where = await pathOf(tx, dead[0]!.id);
        throw new AppError(
          "CONFLICT",
          `cannot restore ${path}: the folder ${where} it was in is in the trash too: restore that first`,
        );
      }
      const taken = await tx.entry.findFirst({
        where: { parentId: item.parentId, liveName: item.name },
        select: { type: true },
      });
      if (taken) {
        throw new AppError(
          "ALREADY_EXISTS",
          `cannot restore ${path}: a ${taken.type} of that name exists there now: rename or move it first`,
        );
      }
      // Files come back into their owners' usage: refuse what would put someone over quota.
      for (const [ownerId, bytes] of await subtreeBytesByOwner(tx, item.id)) {
        const owner = await tx.user.findUnique({ where: { id: ownerId }, select: { id: true, email: true } });
        if (!owner) continue;
        await lockOwner(tx, owner.id);
        await assertWithinQuota(tx, owner, path, bytes);
      }
      const restored = await tx.entry.update({
        where: { id: item.id },
        data: { liveName: item.name, trashedAt: null, trashRootId: null },
        include: ENTRY_INCLUDE,
      });
      await auditInTx(tx, {
        action: "entry.restore",
        actor: user,
        target: path,
        ip: meta.ip ?? null,
        details: { type: item.type },
      });
      await recordChange(tx, {
        kind: "restore",
        entryId: item.id,
        parentId: item.parentId,
        name: item.name,
        type: item.type,
        actorId: user.id,
      });
      return restored;
    }, TX_OPTIONS);
    return toApiEntry(entry, path);
  } catch (err) {
    if (isUniqueViolation(err)) {
      throw new AppError(
        "ALREADY_EXISTS",
        `cannot restore ${path}: an entry of that name was created there meanwhile: rename or move it first`,
      );
    }
    throw err;
  }
}
