import { z } from "zod";
import { AppError } from "@cumulus/protocol/errors";
import { ZRestoreVersionRequest, type ZVersionsResponse } from "@cumulus/protocol/api";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { auditInTx, recordChange } from "../changes/record.ts";
import { ENTRY_INCLUDE, resolveEntry, toApiEntry, TX_OPTIONS } from "./tree.ts";
import { assertWithinQuota, lockOwner } from "../uploads/quota.ts";
import type { Entry as ApiEntry } from "@cumulus/protocol/api";

export const ZVersionsQuery = z.object({ path: z.string().min(1).max(4096) });

/** GET /api/v1/fs/versions — every version of a file, oldest first. */
export async function listVersions(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
): Promise<z.infer<typeof ZVersionsResponse>> {
  const q = ZVersionsQuery.parse(input);
  const r = await resolveEntry(ctx.prisma, user, q.path, "read");
  if (r.entry.type !== "file") throw new AppError("BAD_REQUEST", `${r.path} is a folder: only files have versions`);
  const versions = await ctx.prisma.fileVersion.findMany({
    where: { entryId: r.entry.id },
    orderBy: { number: "asc" },
    include: { createdBy: { select: { email: true } } },
  });
  return {
    path: r.path,
    versions: versions.map((v) => ({
      number: v.number,
      size: Number(v.size),
      chunkCount: v.chunkCount,
      createdAt: v.createdAt.toISOString(),
      createdBy: v.createdBy?.email ?? null,
      current: v.id === r.entry.currentVersionId,
    })),
  };
}

/**
 * POST /api/v1/fs/versions/restore — a new current version whose chunk list is that of
 * version N. Metadata only: the chunks are referenced again, no byte moves.
 */
export async function restoreVersion(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  meta: { ip?: string | null } = {},
): Promise<{ entry: ApiEntry; version: number }> {
  const req = ZRestoreVersionRequest.parse(input);
  const r = await resolveEntry(ctx.prisma, user, req.path, "write");
  if (r.entry.type !== "file") throw new AppError("BAD_REQUEST", `${r.path} is a folder: only files have versions`);
  const entryId = r.entry.id;
  return ctx.prisma.$transaction(
    async (tx) => {
      const locked = await tx.$queryRaw<{ live: boolean }[]>`
        SELECT ("liveName" IS NOT NULL) AS live FROM "Entry" WHERE id = ${entryId}::uuid FOR UPDATE`;
      if (!locked[0]?.live) throw new AppError("CONFLICT", `${r.path} was moved or deleted meanwhile: look again`);
      const source = await tx.fileVersion.findUnique({ where: { entryId_number: { entryId, number: req.version } } });
      if (!source) {
        const latest = await tx.fileVersion.aggregate({ where: { entryId }, _max: { number: true } });
        throw new AppError(
          "NOT_FOUND",
          `${r.path} has no version ${req.version} (latest is ${latest._max.number ?? "none"})`,
        );
      }
      // Restoring a bigger old version grows the owner's usage like an upload would.
      const current = await tx.entry.findUniqueOrThrow({
        where: { id: entryId },
        select: { size: true, owner: { select: { id: true, email: true } } },
      });
      if (current.owner) {
        await lockOwner(tx, current.owner.id);
        await assertWithinQuota(tx, current.owner, r.path, Number(source.size) - Number(current.size));
      }
      const last = await tx.fileVersion.aggregate({ where: { entryId }, _max: { number: true } });
      const number = (last._max.number ?? 0) + 1;
      const version = await tx.fileVersion.create({
        data: {
          entryId,
          number,
          size: source.size,
          chunkCount: source.chunkCount,
          contentHash: source.contentHash,
          createdById: user.id,
          deviceName: null,
        },
        select: { id: true },
      });
      await tx.$executeRaw`
        INSERT INTO "VersionChunk" ("versionId", "index", "chunkId", "offset", "size")
        SELECT ${version.id}::uuid, "index", "chunkId", "offset", "size" FROM "VersionChunk" WHERE "versionId" = ${source.id}::uuid`;
      const entry = await tx.entry.update({
        where: { id: entryId },
        data: { currentVersionId: version.id, size: source.size },
        include: ENTRY_INCLUDE,
      });
      await auditInTx(tx, {
        action: "file.restore-version",
        actor: user,
        target: r.path,
        ip: meta.ip ?? null,
        details: { from: req.version, version: number },
      });
      await recordChange(tx, {
        kind: "update",
        entryId,
        parentId: entry.parentId,
        name: entry.name,
        type: "file",
        versionId: version.id,
        actorId: user.id,
      });
      return { entry: toApiEntry(entry, r.path), version: number };
    },
    { ...TX_OPTIONS, timeout: 60_000 },
  );
}
