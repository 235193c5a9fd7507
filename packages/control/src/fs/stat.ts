import { z } from "zod";
import type { StatResponse } from "@cumulus/protocol/api";
import type { ControlContext } from "../context.ts";
import { LEVEL, type AuthUser } from "../access/access.ts";
import { effectivePolicyOf } from "../policies/effective.ts";
import { fileVersion } from "../downloads/plan-download.ts";
import { allReplicas, liveReplicas } from "./replicas.ts";
import { chunkTargets } from "../reconciler/state.ts";
import { ENTRY_INCLUDE, forbidden, lookup, missingError, toApiEntry } from "./tree.ts";

export const ZStatQuery = z.object({
  path: z.string().min(1).max(4096),
  version: z.coerce.number().int().positive().optional(),
});

/**
 * GET /api/v1/fs/stat — an entry with, for files, every chunk of the current (or given)
 * version and where its replicas are (all of them, whatever their state, so an operator
 * sees corrupt and deleting ones too), plus the effective policy.
 */
export async function statEntry(ctx: ControlContext, user: AuthUser, input: unknown): Promise<StatResponse> {
  const q = ZStatQuery.parse(input);
  const l = await lookup(ctx.prisma, user, q.path);
  if (l.chain.length < l.parts.length + 1) throw await missingError(ctx.prisma, l);
  const id = l.chain[l.chain.length - 1]!;
  const entry = await ctx.prisma.entry.findUniqueOrThrow({ where: { id }, include: ENTRY_INCLUDE });
  // Folders one may pass through (but not read) still have visible metadata, as in a listing.
  if (l.levels[l.levels.length - 1]! < LEVEL.read && entry.type === "file") throw forbidden(l.path, "read");
  const [eff, versions] = await Promise.all([
    effectivePolicyOf(ctx.prisma, ctx.config, entry.id),
    ctx.prisma.fileVersion.count({ where: { entryId: entry.id } }),
  ]);
  let version: number | null = null;
  let size = Number(entry.size);
  let chunks: StatResponse["chunks"] = [];
  if (entry.type === "file" && (entry.currentVersionId || q.version)) {
    const v = await fileVersion(ctx.prisma, entry, l.path, q.version);
    version = v.version.number;
    size = Number(v.version.size);
    const ids = v.chunks.map((c) => c.chunkId);
    const [byChunk, live, targets] = await Promise.all([
      allReplicas(ctx.prisma, ids),
      liveReplicas(ctx.prisma, ctx.config, ids),
      chunkTargets(ctx, ids),
    ]);
    chunks = v.chunks.map((c) => ({
      id: c.chunkId,
      size: c.size,
      offset: Number(c.offset),
      replicas: (byChunk.get(c.chunkId) ?? []).map((r) => ({
        nodeId: r.nodeId,
        node: r.node,
        site: r.site,
        state: r.state,
      })),
      live: live.get(c.chunkId)?.length ?? 0,
      target: targets.get(c.chunkId)?.replicas ?? eff.policy.replicas,
    }));
  }
  return { entry: toApiEntry(entry, l.path), path: l.path, size, versions, version, policy: eff.policy, chunks };
}
