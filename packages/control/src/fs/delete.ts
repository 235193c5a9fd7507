import { AppError } from "@cumulus/protocol/errors";
import { formatPath } from "@cumulus/protocol/paths";
import { ZDeleteRequest, type ZTrashItem } from "@cumulus/protocol/api";
import type { z } from "zod";
import type { ControlContext } from "../context.ts";
import { LEVEL, type AuthUser } from "../access/access.ts";
import { auditInTx, recordChange } from "../changes/record.ts";
import { forbidden, lookup, missingError, TX_OPTIONS } from "./tree.ts";

export type TrashItem = z.infer<typeof ZTrashItem>;

/**
 * POST /api/v1/fs/delete — moves an entry to the trash. Only the entry itself is marked;
 * a folder's contents are hidden through it and come back with it on restore (entries
 * deleted inside it earlier stay in the trash on their own).
 */
export async function deleteEntry(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  meta: { ip?: string | null } = {},
): Promise<TrashItem> {
  const req = ZDeleteRequest.parse(input);
  const l = await lookup(ctx.prisma, user, req.path);
  if (l.parts.length === 0) throw new AppError("BAD_REQUEST", "the root folder cannot be deleted");
  if (l.chain.length < l.parts.length + 1) throw await missingError(ctx.prisma, l);
  const n = l.parts.length;
  const id = l.chain[n]!;
  const parentId = l.chain[n - 1]!;
  if (l.levels[n - 1]! < LEVEL.write) throw forbidden(formatPath(l.parts.slice(0, -1)), "write");

  return ctx.prisma.$transaction(async (tx) => {
    const rows = await tx.$queryRaw<{ parentId: string | null; liveName: string | null }[]>`
      SELECT "parentId"::text AS "parentId", "liveName" FROM "Entry" WHERE id = ${id}::uuid FOR UPDATE`;
    const row = rows[0];
    if (!row || row.parentId !== parentId || row.liveName !== l.parts[n - 1]) {
      throw new AppError("CONFLICT", `${l.path} was moved or deleted meanwhile: look again`);
    }
    const entry = await tx.entry.findUniqueOrThrow({ where: { id }, include: { currentVersion: true } });
    if (req.expectedId !== undefined && req.expectedId !== id) {
      throw new AppError("CONFLICT", `${l.path} is no longer the entry you expected (it was replaced): look again`);
    }
    if (req.expectedVersion !== undefined) {
      const now = entry.currentVersion?.number ?? null;
      if (entry.type !== "file" || now !== req.expectedVersion) {
        throw new AppError(
          "CONFLICT",
          `${l.path} changed meanwhile (it is at version ${now ?? "none"}, not ${req.expectedVersion}): nothing was deleted; look again`,
        );
      }
    }
    if (req.unchangedSince !== undefined && entry.type === "folder") {
      // Lock the live subtree first: an edit that commits before these locks is seen by
      // the change query below; one that comes after waits for this trash and finds it.
      const changed = await tx.$queryRaw<{ name: string; seq: bigint }[]>`
        WITH RECURSIVE sub AS (
          SELECT id FROM "Entry" WHERE id = ${id}::uuid
          UNION ALL
          SELECT e.id FROM "Entry" e JOIN sub ON e."parentId" = sub.id WHERE e."liveName" IS NOT NULL
        ), locked AS (
          SELECT e.id FROM "Entry" e JOIN sub ON e.id = sub.id FOR UPDATE OF e
        )
        SELECT c.name, c.seq FROM "Change" c JOIN locked ON c."entryId" = locked.id
        WHERE c.seq > ${BigInt(req.unchangedSince)} ORDER BY c.seq LIMIT 1`;
      if (changed.length > 0) {
        throw new AppError(
          "CONFLICT",
          `${l.path} changed inside since you last looked (${changed[0]!.name}, change ${changed[0]!.seq}): nothing was deleted; look again`,
        );
      }
    }
    if (entry.type === "folder" && !req.recursive) {
      // Creators lock the folder FOR SHARE, so this count cannot go stale before commit.
      const children = await tx.entry.count({ where: { parentId: id, liveName: { not: null } } });
      if (children > 0) {
        throw new AppError(
          "BAD_REQUEST",
          `${l.path} is a folder that is not empty (${children} entr${children === 1 ? "y" : "ies"}): delete it recursively to move it and everything in it to the trash`,
        );
      }
    }
    const trashedAt = new Date();
    await tx.entry.update({ where: { id }, data: { liveName: null, trashedAt, trashRootId: id } });
    await auditInTx(tx, {
      action: "entry.trash",
      actor: user,
      target: l.path,
      ip: meta.ip ?? null,
      details: { type: entry.type, recursive: req.recursive },
    });
    await recordChange(tx, {
      kind: "trash",
      entryId: id,
      parentId,
      name: entry.name,
      type: entry.type,
      actorId: user.id,
    });
    return {
      id,
      name: entry.name,
      originalPath: l.path,
      type: entry.type,
      size: Number(entry.size),
      trashedAt: trashedAt.toISOString(),
    };
  }, TX_OPTIONS);
}
