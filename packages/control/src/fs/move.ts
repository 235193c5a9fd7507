import { AppError } from "@cumulus/protocol/errors";
import { formatPath } from "@cumulus/protocol/paths";
import { ZMoveRequest, type Entry as ApiEntry } from "@cumulus/protocol/api";
import type { Prisma } from "@cumulus/db/client";
import type { ControlContext } from "../context.ts";
import { LEVEL, type AuthUser } from "../access/access.ts";
import { auditInTx, recordChange } from "../changes/record.ts";
import { lockLiveFolder } from "./mkdir.ts";
import { ENTRY_INCLUDE, forbidden, isUniqueViolation, lookup, missingError, toApiEntry, TX_OPTIONS } from "./tree.ts";

/** Serialises folder moves, so two crossing moves (a into b, b into a) cannot make a cycle. */
const TREE_SHAPE_LOCK = 0x636d6d76; // "cmmv"

async function isAncestorOrSelf(tx: Prisma.TransactionClient, ancestorId: string, id: string): Promise<boolean> {
  const rows = await tx.$queryRaw<{ found: boolean }[]>`
    WITH RECURSIVE up(id, "parentId") AS (
      SELECT e.id, e."parentId" FROM "Entry" e WHERE e.id = ${id}::uuid
      UNION ALL
      SELECT p.id, p."parentId" FROM up JOIN "Entry" p ON p.id = up."parentId"
    )
    SELECT EXISTS (SELECT 1 FROM up WHERE id = ${ancestorId}::uuid) AS found`;
  return rows[0]?.found === true;
}

/**
 * POST /api/v1/fs/move — renames and/or moves an entry. Needs write access to the folder
 * it leaves and the folder it enters; never replaces an existing entry.
 */
export async function moveEntry(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  meta: { ip?: string | null } = {},
): Promise<ApiEntry> {
  const req = ZMoveRequest.parse(input);
  const src = await lookup(ctx.prisma, user, req.from);
  if (src.parts.length === 0) throw new AppError("BAD_REQUEST", "the root folder cannot be moved");
  if (src.chain.length < src.parts.length + 1) throw await missingError(ctx.prisma, src);
  const n = src.parts.length;
  const srcId = src.chain[n]!;
  const srcParentId = src.chain[n - 1]!;
  if (src.levels[n - 1]! < LEVEL.write) throw forbidden(formatPath(src.parts.slice(0, -1)), "write");

  const dst = await lookup(ctx.prisma, user, req.to);
  if (dst.parts.length === 0) throw new AppError("BAD_REQUEST", "cannot move onto the root folder: give the new path");
  if (dst.path === src.path) {
    return toApiEntry(
      await ctx.prisma.entry.findUniqueOrThrow({ where: { id: srcId }, include: ENTRY_INCLUDE }),
      src.path,
    );
  }
  const m = dst.parts.length;
  if (dst.chain.includes(srcId)) {
    throw new AppError("BAD_REQUEST", `cannot move ${src.path} into itself (${dst.path} is inside it)`);
  }
  if (dst.chain.length === m + 1)
    throw new AppError("ALREADY_EXISTS", `${dst.path} already exists: move or delete it first`);
  if (dst.chain.length < m) throw await missingError(ctx.prisma, dst);
  const dstParentId = dst.chain[m - 1]!;
  const dstParentPath = formatPath(dst.parts.slice(0, -1));
  if (dst.levels[m - 1]! < LEVEL.write) throw forbidden(dstParentPath, "write");
  const newName = dst.parts[m - 1]!;
  const srcType = (await ctx.prisma.entry.findUniqueOrThrow({ where: { id: srcId }, select: { type: true } })).type;
  const reshapes = srcType === "folder" && dstParentId !== srcParentId;

  try {
    const entry = await ctx.prisma.$transaction(async (tx) => {
      // Taken before any row lock: crossing folder moves would otherwise deadlock on each other's rows.
      if (reshapes) await tx.$executeRaw`SELECT pg_advisory_xact_lock(${TREE_SHAPE_LOCK}::bigint)`;
      const locked = await tx.$queryRaw<{ parentId: string | null; liveName: string | null; type: string }[]>`
        SELECT "parentId"::text AS "parentId", "liveName", type::text AS type FROM "Entry" WHERE id = ${srcId}::uuid FOR UPDATE`;
      const row = locked[0];
      if (!row || row.parentId !== srcParentId || row.liveName !== src.parts[n - 1]) {
        throw new AppError("CONFLICT", `${src.path} was moved or deleted meanwhile: look again`);
      }
      if (reshapes && (await isAncestorOrSelf(tx, srcId, dstParentId))) {
        throw new AppError("BAD_REQUEST", `cannot move ${src.path} into itself (${dst.path} is inside it)`);
      }
      await lockLiveFolder(tx, dstParentId, dstParentPath);
      const updated = await tx.entry.update({
        where: { id: srcId },
        data: { parentId: dstParentId, name: newName, liveName: newName },
        include: ENTRY_INCLUDE,
      });
      await auditInTx(tx, {
        action: "entry.move",
        actor: user,
        target: src.path,
        ip: meta.ip ?? null,
        details: { to: dst.path },
      });
      await recordChange(tx, {
        kind: "move",
        entryId: srcId,
        parentId: dstParentId,
        name: newName,
        type: updated.type,
        actorId: user.id,
      });
      return updated;
    }, TX_OPTIONS);
    return toApiEntry(entry, dst.path);
  } catch (err) {
    if (isUniqueViolation(err))
      throw new AppError("ALREADY_EXISTS", `${dst.path} already exists: move or delete it first`);
    throw err;
  }
}
