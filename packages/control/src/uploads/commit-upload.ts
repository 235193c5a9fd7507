import { createHash } from "node:crypto";
import { AppError } from "@cumulus/protocol/errors";
import { ZCommitUploadRequest, type Entry as ApiEntry } from "@cumulus/protocol/api";
import type { Prisma } from "@cumulus/db/client";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { auditInTx, recordChange } from "../changes/record.ts";
import { lockLiveFolder } from "../fs/mkdir.ts";
import { ENTRY_INCLUDE, isUniqueViolation, toApiEntry } from "../fs/tree.ts";
import { liveReplicas } from "../fs/replicas.ts";
import { checkTarget, quotaOwner, type StoredManifest } from "./begin-upload.ts";
import { assertWithinQuota, lockOwner } from "./quota.ts";
import { verifyReceipts, type VerifiedReceipt } from "./receipts.ts";

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const INSERT_BATCH = 5_000;

/** SHA-256 over the ordered manifest: equal for equal content, cheap to compare. */
export function contentHashOf(chunks: readonly { id: string; size: number }[]): string {
  const h = createHash("sha256");
  for (const c of chunks) h.update(`${c.id}:${c.size}\n`);
  return h.digest("hex");
}

export function uploadNotFound(id: string): AppError {
  return new AppError("NOT_FOUND", `upload ${id} does not exist or has expired: begin the upload again`);
}

/**
 * POST /api/v1/uploads/:id/commit — makes the uploaded chunks the new content of the
 * file once the nodes' receipts prove every chunk is durable on enough distinct nodes.
 * Everything the commit changes happens in one transaction that first locks the file, so
 * of two commits from the same base version exactly one wins.
 */
export async function commitUpload(
  ctx: ControlContext,
  user: AuthUser,
  uploadId: string,
  input: unknown,
  meta: { ip?: string | null; now?: Date } = {},
): Promise<{ entry: ApiEntry; version: number }> {
  const now = meta.now ?? new Date();
  if (!UUID.test(uploadId)) throw uploadNotFound(uploadId);
  const upload = await ctx.prisma.upload.findUnique({ where: { id: uploadId } });
  // Another user's upload is answered exactly like an unknown one.
  if (!upload || upload.userId !== user.id || upload.expiresAt <= now) throw uploadNotFound(uploadId);
  const req = ZCommitUploadRequest.parse(input);
  const manifest = upload.manifest as unknown as StoredManifest;
  const sizes = new Map(manifest.chunks.map((c) => [c.id, c.size] as const));

  const receipts = await verifyReceipts(ctx.prisma, req.receipts, sizes);
  const live = await liveReplicas(ctx.prisma, ctx.config, [...sizes.keys()], now);
  const replicaRows = durableReplicaRows(manifest, receipts, live);

  try {
    const result = await ctx.prisma.$transaction(
      async (tx) => {
        // Deleting first serialises two commits of the same upload: the second finds nothing.
        const gone = await tx.upload.deleteMany({ where: { id: upload.id } });
        if (gone.count === 0) throw uploadNotFound(uploadId);

        const target = await checkTarget(tx, user, upload.path, manifest.baseVersion);
        const owner = await quotaOwner(tx, user, target.entryId);
        await lockOwner(tx, owner.user.id);
        await assertWithinQuota(tx, owner.user, upload.path, Number(upload.size) - owner.currentSize);
        let entryId = target.entryId;
        let created = false;
        if (entryId) {
          const locked = await tx.$queryRaw<{ currentVersionId: string | null }[]>`
            SELECT "currentVersionId"::text AS "currentVersionId" FROM "Entry" WHERE id = ${entryId}::uuid AND "liveName" IS NOT NULL FOR UPDATE`;
          if (locked.length === 0)
            throw new AppError("CONFLICT", `${upload.path} was moved or deleted meanwhile: upload it again`);
          if (locked[0]!.currentVersionId !== upload.baseVersionId) {
            const current = locked[0]!.currentVersionId
              ? (
                  await tx.fileVersion.findUnique({
                    where: { id: locked[0]!.currentVersionId },
                    select: { number: true },
                  })
                )?.number
              : null;
            throw new AppError(
              "CONFLICT",
              `${upload.path} changed since version ${manifest.baseVersion} (now ${current ?? "none"}): fetch the new version and merge first`,
              { currentVersion: current ?? null },
            );
          }
        } else {
          await lockLiveFolder(tx, target.parentId, parentOf(upload.path));
          const name = upload.path.slice(upload.path.lastIndexOf("/") + 1);
          const entry = await tx.entry.create({
            data: { parentId: target.parentId, name, liveName: name, type: "file", ownerId: user.id },
            select: { id: true },
          });
          entryId = entry.id;
          created = true;
        }

        await insertChunks(tx, manifest.chunks, replicaRows);
        const last = await tx.fileVersion.aggregate({ where: { entryId }, _max: { number: true } });
        const number = (last._max.number ?? 0) + 1;
        const version = await tx.fileVersion.create({
          data: {
            entryId,
            number,
            size: upload.size,
            chunkCount: manifest.chunks.length,
            contentHash: contentHashOf(manifest.chunks),
            createdById: user.id,
            deviceName: manifest.deviceName,
          },
          select: { id: true },
        });
        await insertVersionChunks(tx, version.id, manifest.chunks);
        const entry = await tx.entry.update({
          where: { id: entryId },
          data: { currentVersionId: version.id, size: upload.size },
          include: ENTRY_INCLUDE,
        });
        await auditInTx(tx, {
          action: created ? "file.create" : "file.update",
          actor: user,
          target: upload.path,
          ip: meta.ip ?? null,
          details: { version: number, size: Number(upload.size), chunks: manifest.chunks.length },
        });
        await recordChange(tx, {
          kind: created ? "create" : "update",
          entryId,
          parentId: entry.parentId,
          name: entry.name,
          type: "file",
          versionId: version.id,
          actorId: user.id,
        });
        return { entry, number };
      },
      { timeout: 120_000, maxWait: 10_000 },
    );
    return { entry: toApiEntry(result.entry, upload.path), version: result.number };
  } catch (err) {
    // A racing commit created the same name first: the unique live-name index decided.
    if (isUniqueViolation(err)) {
      throw new AppError(
        "CONFLICT",
        `${upload.path} was created by someone else meanwhile: upload it again with its version as the base`,
        {
          currentVersion: null,
        },
      );
    }
    throw err;
  }
}

/**
 * Checks that every chunk of the upload is durable on as many distinct nodes as the policy
 * asked for (counting live replicas and fresh receipts) and returns the replica rows the
 * receipts add; a BAD_REQUEST names the chunks that are short.
 */
export function durableReplicaRows(
  manifest: StoredManifest,
  receipts: readonly VerifiedReceipt[],
  live: ReadonlyMap<string, readonly { nodeId: string }[]>,
): Map<string, { chunkId: string; nodeId: string; epoch: number }> {
  const ids = new Set(manifest.chunks.map((c) => c.id));
  const receiptNodes = new Map<string, Set<string>>();
  for (const r of receipts) {
    if (!r.counts) continue;
    const set = receiptNodes.get(r.chunkId);
    if (set) set.add(r.nodeId);
    else receiptNodes.set(r.chunkId, new Set([r.nodeId]));
  }
  const short: { id: string; copies: number }[] = [];
  for (const id of ids) {
    const durable = new Set([...(live.get(id) ?? []).map((r) => r.nodeId), ...(receiptNodes.get(id) ?? [])]);
    if (durable.size < manifest.replicas) short.push({ id, copies: durable.size });
  }
  if (short.length > 0) {
    const first = short[0]!;
    const more = short.length > 1 ? ` (and ${short.length - 1} more chunk${short.length > 2 ? "s" : ""})` : "";
    const what =
      first.copies === 0
        ? `chunk ${first.id} was never stored`
        : `chunk ${first.id} has ${first.copies} durable cop${first.copies === 1 ? "y" : "ies"}, policy needs ${manifest.replicas}`;
    throw new AppError("BAD_REQUEST", `${what}${more}: upload it again`, { chunks: short.slice(0, 100) });
  }

  // A node may have sent a receipt twice (client retry); keep one per (chunk, node).
  const replicaRows = new Map<string, { chunkId: string; nodeId: string; epoch: number }>();
  for (const r of receipts)
    replicaRows.set(`${r.chunkId}|${r.nodeId}`, { chunkId: r.chunkId, nodeId: r.nodeId, epoch: r.epoch });

  return replicaRows;
}

function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

export async function insertChunks(
  tx: Prisma.TransactionClient,
  chunks: readonly { id: string; size: number }[],
  replicas: ReadonlyMap<string, { chunkId: string; nodeId: string; epoch: number }>,
): Promise<void> {
  const distinct = [...new Map(chunks.map((c) => [c.id, c] as const)).values()];
  // unnest() inserts: one statement and a few array parameters per batch, where
  // createMany would bind every column of every row separately.
  for (let i = 0; i < distinct.length; i += INSERT_BATCH) {
    const batch = distinct.slice(i, i + INSERT_BATCH);
    await tx.$executeRaw`
      INSERT INTO "Chunk" (id, size, "createdAt")
      SELECT t.id, t.size, now() FROM unnest(${batch.map((c) => c.id)}::text[], ${batch.map((c) => c.size)}::int[]) AS t(id, size)
      ON CONFLICT (id) DO NOTHING`;
  }
  const rows = [...replicas.values()];
  for (let i = 0; i < rows.length; i += INSERT_BATCH) {
    const batch = rows.slice(i, i + INSERT_BATCH);
    await tx.$executeRaw`
      INSERT INTO "ChunkReplica" ("chunkId", "nodeId", state, epoch, "createdAt", "verifiedAt")
      SELECT t.c, t.n::uuid, 'stored', t.e, now(), now()
      FROM unnest(${batch.map((r) => r.chunkId)}::text[], ${batch.map((r) => r.nodeId)}::text[], ${batch.map((r) => r.epoch)}::int[]) AS t(c, n, e)
      ON CONFLICT ("chunkId", "nodeId") DO UPDATE SET state = 'stored', epoch = EXCLUDED.epoch, "verifiedAt" = now()`;
  }
}

export async function insertVersionChunks(
  tx: Prisma.TransactionClient,
  versionId: string,
  chunks: readonly { id: string; size: number }[],
): Promise<void> {
  let offset = 0;
  const offsets = chunks.map((c) => {
    const at = offset;
    offset += c.size;
    return at;
  });
  for (let i = 0; i < chunks.length; i += INSERT_BATCH) {
    const batch = chunks.slice(i, i + INSERT_BATCH);
    await tx.$executeRaw`
      INSERT INTO "VersionChunk" ("versionId", "index", "chunkId", "offset", "size")
      SELECT ${versionId}::uuid, t.idx, t.id, t.off, t.size
      FROM unnest(
        ${batch.map((_, j) => i + j)}::int[],
        ${batch.map((c) => c.id)}::text[],
        ${offsets.slice(i, i + INSERT_BATCH).map(String)}::bigint[],
        ${batch.map((c) => c.size)}::int[]
      ) AS t(idx, id, off, size)`;
  }
}
