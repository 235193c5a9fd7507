import { z } from "zod";
import type { Sysinfo } from "@cumulus/protocol/api";
import type { ControlContext } from "../context.ts";
import { getHealth } from "../cluster/health.ts";
import { sysinfo } from "../cluster/sysinfo.ts";

/**
 * The admin dashboard: cluster health, sites and nodes with capacity, replication counts
 * (cluster/sysinfo), usage over time (NodeSample, one per node every 30 s from the
 * heartbeats) and repair activity as the reconciler reports it in sysinfo (idle with
 * nothing queued while none runs).
 */

export type UsagePoint = { at: string; usedBytes: number; capacityBytes: number; nodes: number };

export type Overview = {
  now: string;
  database: "ok" | "unreachable";
  nodesActive: number;
  nodesTotal: number;
  sysinfo: Sysinfo;
  totals: { capacityBytes: number; usedBytes: number; users: number; files: number; logicalBytes: number };
  repair: {
    state: "idle" | "repairing" | "stale";
    queued: number;
    running: number;
    bytesPerSec: number;
    copiesLastMinute: number;
    updatedAt: string | null;
    note: string;
  };
  misplaced: number;
  nodeTimeoutMs: number;
  defaultReplicas: number;
};

export async function clusterOverview(ctx: ControlContext, now = new Date()): Promise<Overview> {
  const [{ health }, info, users, files] = await Promise.all([
    getHealth(ctx, now),
    sysinfo(ctx, now),
    ctx.prisma.user.count(),
    ctx.prisma.entry.aggregate({ where: { type: "file", trashedAt: null }, _count: true, _sum: { size: true } }),
  ]);
  const live = info.nodes.filter((n) => n.status !== "decommissioned");
  return {
    now: now.toISOString(),
    database: health.database === "ok" ? "ok" : "unreachable",
    nodesActive: health.nodes.active,
    nodesTotal: health.nodes.total,
    sysinfo: info,
    totals: {
      capacityBytes: live.reduce((s, n) => s + n.capacityBytes, 0),
      usedBytes: live.reduce((s, n) => s + n.usedBytes, 0),
      users,
      files: files._count,
      logicalBytes: Number(files._sum.size ?? 0n),
    },
    // The reconciler reports through sysinfo once it runs; until then: idle, nothing queued.
    repair: info.repair
      ? {
          state: info.repair.state,
          queued: info.repair.queued,
          running: info.repair.running,
          bytesPerSec: info.repair.bytesPerSec,
          copiesLastMinute: info.repair.copiesLastMinute,
          updatedAt: info.repair.updatedAt,
          note: info.repair.updatedAt
            ? `Reconciler${info.repair.leader ? ` on ${info.repair.leader}` : ""}.`
            : "No reconciler has reported yet: nothing is being repaired.",
        }
      : {
          state: "idle",
          queued: 0,
          running: 0,
          bytesPerSec: 0,
          copiesLastMinute: 0,
          updatedAt: null,
          note: "No reconciler runs yet: nothing is being repaired.",
        },
    misplaced: info.misplaced ?? 0,
    nodeTimeoutMs: ctx.config.nodeTimeoutMs,
    defaultReplicas: ctx.config.defaultReplicas,
  };
}

export const ZUsageQuery = z.object({
  hours: z
    .number()
    .int()
    .min(1)
    .max(24 * 30)
    .default(24),
  nodeId: z.uuid().optional(),
});

/**
 * Used and total capacity over time: samples are averaged per node within each bucket
 * (about 120 buckets over the range), then summed over the nodes.
 */
export async function usageHistory(ctx: ControlContext, input: unknown, now = new Date()): Promise<UsagePoint[]> {
  const q = ZUsageQuery.parse(input ?? {});
  const since = new Date(now.getTime() - q.hours * 3600_000);
  const bucketS = Math.max(60, Math.round((q.hours * 3600) / 120));
  const rows = q.nodeId
    ? await ctx.prisma.$queryRaw<{ bucket: Date; used: number; cap: number; nodes: bigint }[]>`
        SELECT to_timestamp(floor(extract(epoch from at) / ${bucketS}) * ${bucketS}) AS bucket,
               AVG("usedBytes")::float8 AS used, AVG("capacityBytes")::float8 AS cap, COUNT(DISTINCT "nodeId") AS nodes
        FROM "NodeSample" WHERE at >= ${since} AND "nodeId" = ${q.nodeId}::uuid
        GROUP BY 1 ORDER BY 1`
    : await ctx.prisma.$queryRaw<{ bucket: Date; used: number; cap: number; nodes: bigint }[]>`
        SELECT bucket, SUM(used)::float8 AS used, SUM(cap)::float8 AS cap, COUNT(*) AS nodes FROM (
          SELECT to_timestamp(floor(extract(epoch from at) / ${bucketS}) * ${bucketS}) AS bucket, "nodeId",
                 AVG("usedBytes") AS used, AVG("capacityBytes") AS cap
          FROM "NodeSample" WHERE at >= ${since}
          GROUP BY 1, 2
        ) per_node GROUP BY bucket ORDER BY bucket`;
  return rows.map((r) => ({
    at: r.bucket.toISOString(),
    usedBytes: Math.round(Number(r.used)),
    capacityBytes: Math.round(Number(r.cap)),
    nodes: Number(r.nodes),
  }));
}
