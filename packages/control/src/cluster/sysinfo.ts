import type { Sysinfo } from "@cumulus/protocol/api";
import type { ControlContext } from "../context.ts";
import { readStatus, repairStatus } from "../reconciler/status.ts";
import { isFull } from "../nodes/fullness.ts";

export type ReplicationCounts = { chunks: number; replicas: number; underReplicated: number; overReplicated: number };

/**
 * Chunk and replica counts, computed in the database. A chunk's target is the largest
 * effective replica count among the files whose versions (current or retained, trashed
 * files included) reference it; it is under-replicated when fewer live replicas exist
 * (stored, on an active or draining node with a fresh heartbeat, confirmed at the node's
 * current epoch) and over-replicated when more do. Chunks no version references (pending
 * uploads, garbage) have no target.
 */
export async function replicationCounts(ctx: ControlContext, now = new Date()): Promise<ReplicationCounts> {
  const cutoff = new Date(now.getTime() - ctx.config.nodeTimeoutMs);
  const rows = await ctx.prisma.$queryRaw<{ chunks: bigint; replicas: bigint; under: bigint; over: bigint }[]>`
    WITH RECURSIVE eff(id, replicas) AS (
      SELECT e.id, COALESCE(rp.replicas, ${ctx.config.defaultReplicas}::int)
      FROM "Entry" e LEFT JOIN "ReplicationPolicy" rp ON rp."entryId" = e.id
      WHERE e."parentId" IS NULL
      UNION ALL
      SELECT c.id, COALESCE(rp.replicas, eff.replicas)
      FROM eff JOIN "Entry" c ON c."parentId" = eff.id LEFT JOIN "ReplicationPolicy" rp ON rp."entryId" = c.id
    ), target AS (
      SELECT vc."chunkId", MAX(eff.replicas) AS replicas
      FROM "VersionChunk" vc
      JOIN "FileVersion" v ON v.id = vc."versionId"
      JOIN eff ON eff.id = v."entryId"
      GROUP BY vc."chunkId"
    ), live AS (
      SELECT r."chunkId", COUNT(*) AS n
      FROM "ChunkReplica" r JOIN "StorageNode" n ON n.id = r."nodeId"
      WHERE r.state = 'stored' AND r.epoch = n.epoch AND n.status IN ('active', 'draining') AND n."lastHeartbeatAt" >= ${cutoff}
      GROUP BY r."chunkId"
    )
    SELECT
      (SELECT COUNT(*) FROM "Chunk") AS chunks,
      (SELECT COUNT(*) FROM "ChunkReplica" r JOIN "StorageNode" n ON n.id = r."nodeId"
        WHERE r.state = 'stored' AND n.status <> 'decommissioned') AS replicas,
      COUNT(*) FILTER (WHERE COALESCE(live.n, 0) < target.replicas) AS under,
      COUNT(*) FILTER (WHERE COALESCE(live.n, 0) > target.replicas) AS over
    FROM target LEFT JOIN live ON live."chunkId" = target."chunkId"`;
  const r = rows[0]!;
  return {
    chunks: Number(r.chunks),
    replicas: Number(r.replicas),
    underReplicated: Number(r.under),
    overReplicated: Number(r.over),
  };
}

/**
 * GET /api/v1/sysinfo — for any signed-in user: sites, nodes and replication health.
 * Under/over-replicated counts are computed now; misplaced chunks, the repair queue and
 * its throughput come from the reconciler's last scan (its published status).
 */
export async function sysinfo(ctx: ControlContext, now = new Date()): Promise<Sysinfo> {
  const cutoff = new Date(now.getTime() - ctx.config.nodeTimeoutMs);
  const [sites, nodes, counts, status] = await Promise.all([
    ctx.prisma.site.findMany({
      orderBy: { name: "asc" },
      include: { _count: { select: { nodes: { where: { status: { not: "decommissioned" } } } } } },
    }),
    ctx.prisma.storageNode.findMany({ orderBy: { name: "asc" }, include: { site: { select: { name: true } } } }),
    replicationCounts(ctx, now),
    readStatus(ctx),
  ]);
  return {
    sites: sites.map((s) => ({ name: s.name, nodes: s._count.nodes })),
    nodes: nodes.map((n) => ({
      id: n.id,
      name: n.name,
      site: n.site.name,
      // Silent nodes are down even before the worker's failure detector has marked them.
      status: (n.status === "active" || n.status === "draining") && n.lastHeartbeatAt < cutoff ? "down" : n.status,
      capacityBytes: Number(n.capacityBytes),
      usedBytes: Number(n.usedBytes),
      availableBytes:
        n.availableBytes === null
          ? Math.max(0, Number(n.capacityBytes) - Number(n.usedBytes))
          : Number(n.availableBytes),
      full: isFull(n),
      chunks: n.chunkCount,
      lastHeartbeatAt: n.lastHeartbeatAt.toISOString(),
    })),
    ...counts,
    misplaced: status?.stats.misplaced ?? 0,
    repair: repairStatus(status, now),
  };
}
