import type { RepairStatus } from "@cumulus/protocol/api";
import type { ControlContext } from "../context.ts";
import { STATUS_KEY } from "./config.ts";
import type { PlanStats } from "./plan.ts";

/** What the leader publishes after every scan (ClusterSetting `reconciler.status`). */
export type ReconcilerStatus = {
  leader: string;
  updatedAt: string;
  scanMs: number;
  queued: number;
  running: number;
  retrying: number;
  bytesLastMinute: number;
  /** Copy throughput now: bytes of copies finished over the last RATE_WINDOW_MS, per second. */
  bytesPerSec?: number;
  copiesLastMinute: number;
  deletesLastMinute: number;
  failedLastMinute: number;
  stats: PlanStats;
  garbageTracked: number;
  lastError: string | null;
};

export async function writeStatus(ctx: ControlContext, s: ReconcilerStatus): Promise<void> {
  const value = JSON.parse(JSON.stringify(s)) as object;
  await ctx.prisma.clusterSetting.upsert({
    where: { key: STATUS_KEY },
    create: { key: STATUS_KEY, value },
    update: { value },
  });
}

export async function readStatus(ctx: ControlContext): Promise<ReconcilerStatus | null> {
  const row = await ctx.prisma.clusterSetting.findUnique({ where: { key: STATUS_KEY } });
  return row ? (row.value as unknown as ReconcilerStatus) : null;
}

/** A status older than this means no reconciler is running. */
export const STATUS_STALE_MS = 60_000;

/** The repair block of sysinfo (and the admin dashboard) from the published status. */
export function repairStatus(s: ReconcilerStatus | null, now = new Date()): RepairStatus {
  if (!s) {
    return {
      state: "stale",
      leader: null,
      updatedAt: null,
      queued: 0,
      running: 0,
      bytesPerSec: 0,
      bytesLastMinute: 0,
      copiesLastMinute: 0,
      deletesLastMinute: 0,
      unavailable: 0,
    };
  }
  const stale = now.getTime() - new Date(s.updatedAt).getTime() > STATUS_STALE_MS;
  const busy = s.queued + s.running + s.retrying > 0;
  return {
    state: stale ? "stale" : busy ? "repairing" : "idle",
    leader: s.leader,
    updatedAt: s.updatedAt,
    queued: s.queued + s.retrying,
    running: s.running,
    // A repair often takes seconds: a per-minute average would hide its speed.
    bytesPerSec: stale ? 0 : Math.round(s.bytesPerSec ?? s.bytesLastMinute / 60),
    bytesLastMinute: s.bytesLastMinute,
    copiesLastMinute: s.copiesLastMinute,
    deletesLastMinute: s.deletesLastMinute,
    unavailable: s.stats.unavailable,
  };
}
