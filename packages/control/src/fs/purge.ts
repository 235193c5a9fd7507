import { z } from "zod";
import { AppError } from "@cumulus/protocol/errors";
import type { ControlContext } from "../context.ts";
import { LEVEL, permissionLevel, type AuthUser } from "../access/access.ts";
import { auditInTx, recordChange } from "../changes/record.ts";
import { joinPath, pathOf, TX_OPTIONS } from "./tree.ts";

export const ZPurgeRequest = z.object({ id: z.uuid() });

function notInTrash(id: string): AppError {
  return new AppError("NOT_FOUND", `no such item in the trash: ${id}`);
}

/**
 * Permanently deletes an item of the trash: the entry and, for a folder, everything in it
 * (versions, ACLs, share links and policies go with them through the schema's cascades),
 * recording one `purge` change. Needs what restore needs: write access where it was.
 * The chunks stay until garbage collection finds them unreferenced.
 */
export async function purgeEntry(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  meta: { ip?: string | null } = {},
): Promise<{ id: string; path: string; entries: number }> {
  const req = ZPurgeRequest.parse(input);
  const item = await ctx.prisma.entry.findUnique({ where: { id: req.id } });
  if (!item || item.trashedAt === null || item.parentId === null) throw notInTrash(req.id);
  if ((await permissionLevel(ctx.prisma, user, item.parentId)) < LEVEL.write) throw notInTrash(req.id);
  const path = joinPath(await pathOf(ctx.prisma, item.parentId), item.name);

  return ctx.prisma.$transaction(
    async (tx) => {
      const rows = await tx.$queryRaw<{ trashed: boolean }[]>`
        SELECT ("trashedAt" IS NOT NULL) AS trashed FROM "Entry" WHERE id = ${item.id}::uuid FOR UPDATE`;
      if (!rows[0]?.trashed) throw notInTrash(req.id);
      const counted = await tx.$queryRaw<{ n: number }[]>`
        WITH RECURSIVE sub(id) AS (
          SELECT ${item.id}::uuid
          UNION ALL
          SELECT e.id FROM "Entry" e JOIN sub ON e."parentId" = sub.id
        )
        SELECT count(*)::int AS n FROM sub`;
      const entries = counted[0]?.n ?? 1;
      await tx.entry.delete({ where: { id: item.id } });
      await auditInTx(tx, {
        action: "entry.purge",
        actor: user,
        target: path,
        ip: meta.ip ?? null,
        details: { type: item.type, entries },
      });
      await recordChange(tx, {
        kind: "purge",
        entryId: item.id,
        parentId: item.parentId,
        name: item.name,
        type: item.type,
        actorId: user.id,
      });
      return { id: item.id, path, entries };
    },
    { ...TX_OPTIONS, timeout: 120_000 },
  );
}
