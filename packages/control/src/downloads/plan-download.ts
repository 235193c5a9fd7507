import { createHash } from "node:crypto";
import { z } from "zod";
import { AppError } from "@cumulus/protocol/errors";
import type { DownloadPlan } from "@cumulus/protocol/api";
import type { ControlContext } from "../context.ts";
import type { AuthUser, Db } from "../access/access.ts";
import { resolveEntry } from "../fs/tree.ts";
import { liveReplicas, type LiveReplica } from "../fs/replicas.ts";
import { readBatches, signCapability } from "../capabilities/tokens.ts";

export const ZDownloadQuery = z.object({
  path: z.string().min(1).max(4096),
  version: z.coerce.number().int().positive().optional(),
});

/** The version `number` (or the current one) of a file, with its ordered chunk list. */
export async function fileVersion(
  db: Db,
  entry: { id: string; type: string; currentVersionId: string | null },
  path: string,
  number?: number,
) {
  if (entry.type !== "file") throw new AppError("BAD_REQUEST", `${path} is a folder, not a file`);
  const version = number
    ? await db.fileVersion.findUnique({ where: { entryId_number: { entryId: entry.id, number } } })
    : entry.currentVersionId
      ? await db.fileVersion.findUnique({ where: { id: entry.currentVersionId } })
      : null;
  if (!version) {
    const latest = await db.fileVersion.aggregate({ where: { entryId: entry.id }, _max: { number: true } });
    throw new AppError(
      "NOT_FOUND",
      number
        ? `${path} has no version ${number} (latest is ${latest._max.number ?? "none"})`
        : `${path} has no content yet`,
    );
  }
  const chunks = await db.versionChunk.findMany({ where: { versionId: version.id }, orderBy: { index: "asc" } });
  return { version, chunks };
}

/** Same site first; within a group, a per-chunk hash order spreads reads over the replicas. */
export function nearestFirst(chunkId: string, replicas: readonly LiveReplica[], site: string | null): LiveReplica[] {
  const keyed = replicas.map((r) => ({
    r,
    near: site !== null && r.site === site ? 0 : 1,
    score: createHash("sha256").update(`${chunkId}:${r.nodeId}`).digest().readUInt32BE(0),
  }));
  keyed.sort((a, b) => a.near - b.near || a.score - b.score);
  return keyed.map((k) => k.r);
}

/**
 * GET /api/v1/downloads — where every chunk of a file version can be read right now,
 * with read capabilities; the client fetches from the nodes directly.
 */
export async function planDownload(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  opts: { site?: string | null; now?: Date; ip?: string | null } = {},
): Promise<DownloadPlan> {
  const q = ZDownloadQuery.parse(input);
  const now = opts.now ?? new Date();
  const r = await resolveEntry(ctx.prisma, user, q.path, "read");
  const { version, chunks } = await fileVersion(ctx.prisma, r.entry, r.path, q.version);
  const live = await liveReplicas(
    ctx.prisma,
    ctx.config,
    chunks.map((c) => c.chunkId),
    now,
  );

  const unreachable = new Set(chunks.filter((c) => !live.get(c.chunkId)?.length).map((c) => c.chunkId));
  if (unreachable.size > 0) {
    throw new AppError(
      "UNAVAILABLE",
      `${unreachable.size} of ${new Set(chunks.map((c) => c.chunkId)).size} chunks of ${r.path} (version ${version.number}) have no live replica: the nodes holding them are down; try again when they are back`,
      { unreachableChunks: [...unreachable].slice(0, 100) },
    );
  }

  const site = opts.site?.trim() || null;
  const ordered = new Map<string, LiveReplica[]>();
  for (const c of chunks)
    if (!ordered.has(c.chunkId)) ordered.set(c.chunkId, nearestFirst(c.chunkId, live.get(c.chunkId)!, site));

  // Consecutive chunks share a token; its audience is every node any of them may be read from.
  const tokens = await readTokens(ctx, user, ordered, now, opts.ip ?? null);

  return {
    path: r.path,
    size: Number(version.size),
    version: version.number,
    chunks: planChunks(chunks, ordered, tokens),
  };
}

/**
 * Read capabilities for the chunks of `ordered` (chunk id → replicas, nearest first):
 * consecutive chunks share a token whose audience is every node any of them may be read from.
 * Shared by planDownload and planDownloadBatch.
 */
export async function readTokens(
  ctx: ControlContext,
  user: AuthUser,
  ordered: ReadonlyMap<string, readonly LiveReplica[]>,
  now: Date,
  ip: string | null,
): Promise<Map<string, string>> {
  const tokens = new Map<string, string>();
  for (const batch of readBatches([...ordered.keys()], (id) => ordered.get(id)!.map((n) => n.nodeId))) {
    const { token } = await signCapability(
      ctx,
      { op: "read", aud: batch.aud, chunks: batch.chunks, sub: user.id, ip },
      now.getTime(),
    );
    for (const id of batch.chunks) tokens.set(id, token);
  }
  return tokens;
}

/** A version's chunk list as a download plan gives it: each with its replicas and token. */
export function planChunks(
  chunks: readonly { chunkId: string; size: number; offset: bigint }[],
  ordered: ReadonlyMap<string, readonly LiveReplica[]>,
  tokens: ReadonlyMap<string, string>,
): DownloadPlan["chunks"] {
  return chunks.map((c) => ({
    id: c.chunkId,
    size: c.size,
    offset: Number(c.offset),
    replicas: ordered.get(c.chunkId)!.map((n) => ({
      nodeId: n.nodeId,
      node: n.node,
      site: n.site,
      url: n.url,
      ...(n.udt ? { udt: n.udt } : {}),
    })),
    token: tokens.get(c.chunkId)!,
  }));
}
