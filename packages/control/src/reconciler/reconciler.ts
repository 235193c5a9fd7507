import { setTimeout as sleep } from "node:timers/promises";
import { SessionLock } from "@cumulus/db/session-lock";
import { MAX_REPLICATE_BATCH } from "@cumulus/protocol/node-api";
import type { ControlContext } from "../context.ts";
import { LEADER_LOCK, type ReconcilerConfig } from "./config.ts";
import { collectGarbage, forgetDecommissioned, GarbageTracker, OrphanTracker } from "./gc.ts";
import { reconcileInventory } from "./inventory.ts";
import { addStats, admit, emptyStats, PlacerCache, planChunks, taskKey, type PlanStats, type Task } from "./plan.ts";
import { RepairQueue, type FinishedTask } from "./queue.ts";
import { chunkPages, loadNodes, protectedChunks, type ScanNode } from "./state.ts";
import { writeStatus } from "./status.ts";

const WINDOW_MS = 60_000;
/** Throughput is reported over this window (sysinfo's "repair throughput"). */
const RATE_WINDOW_MS = 10_000;
const INVENTORY_RETRY_MS = 3_000;
const COOLDOWN_BASE_MS = 1_000;
const QUEUE_DEPTH = 3;
const COOLDOWN_MAX_MS = 60_000;
/** Scans never run closer together than this (finished work and node expiries wake them). */
const MIN_SCAN_GAP_MS = 100;
/** A node expiring is scanned for this long after its deadline (clock and query jitter). */
const EXPIRY_SLACK_MS = 20;

/**
 * The reconciler while this process leads: scan → plan → admit → enqueue, forever. Each
 * scan first reconciles the inventory of every node that registered again (or whose
 * periodic orphan sweep is due), then walks every chunk page by page through the planner,
 * collects garbage past its grace period, queues the most urgent tasks the per-node
 * limits allow, and publishes its status for sysinfo.
 */
export class Reconciler {
  private readonly ctx: ControlContext;
  private readonly cfg: ReconcilerConfig;
  private readonly name: string;
  private readonly queue: RepairQueue;
  private readonly inventoried = new Map<string, { epoch: number; at: number }>();
  /** Nodes whose last inventory failed: not asked again for a few seconds. */
  private readonly inventoryFailedAt = new Map<string, number>();
  private readonly garbage = new GarbageTracker();
  private readonly orphans = new OrphanTracker();
  private finished: FinishedTask[] = [];
  private readonly recentDeletes = new Map<string, number>();
  /** Tasks that could not reach a node: not planned again before `until` (doubling, capped). */
  private readonly cooldown = new Map<string, { n: number; until: number }>();
  private outstandingKeys = new Set<string>();
  private protectedIds: ReadonlySet<string> = new Set();
  private wake: (() => void) | null = null;
  /** Work finished while a scan ran (when `wake` is not set). */
  private poked = false;
  private lastError: string | null = null;
  /** The earliest heartbeat deadline of a live node seen by the last scan (ms since the epoch). */
  private nextExpiry = Infinity;
  scans = 0;

  constructor(ctx: ControlContext, cfg: ReconcilerConfig, opts: { databaseUrl: string; name: string }) {
    this.ctx = ctx;
    this.cfg = cfg;
    this.name = opts.name;
    this.queue = new RepairQueue({
      ctx,
      databaseUrl: opts.databaseUrl,
      config: cfg,
      isProtected: async (chunk) => (await protectedChunks(ctx.prisma)).has(chunk),
      onFinished: (t) => this.onFinished(t),
      // Once its row no longer counts, the next scan reports the shorter queue.
      onJobDone: () => this.poke(),
    });
  }

  private onFinished(t: FinishedTask): void {
    this.finished.push(t);
    if (t.kind === "delete") this.recentDeletes.set(t.key, t.at);
    const o = t.outcome;
    if (o.outcome === "obsolete") this.ctx.log.debug({ task: t.key, why: o.why }, "task no longer needed");
    if (o.outcome === "unavailable") {
      const n = (this.cooldown.get(t.key)?.n ?? 0) + 1;
      const ms = Math.min(COOLDOWN_MAX_MS, COOLDOWN_BASE_MS * 2 ** (n - 1));
      this.cooldown.set(t.key, { n, until: t.at + ms });
      this.ctx.log.info({ task: t.key, why: o.why, retryInMs: ms }, "task could not reach a node; replanning later");
    } else {
      this.cooldown.delete(t.key);
    }
    // Work finished: the next step (e.g. dropping a surplus copy) need not wait a full interval.
    this.poke();
  }

  /** Asks for a scan soon; one asked for during a scan follows it after MIN_SCAN_GAP_MS. */
  private poke(): void {
    if (this.wake) this.wake();
    else this.poked = true;
  }

  /** Runs until `signal` aborts (leadership lost or shutdown). */
  async lead(signal: AbortSignal): Promise<void> {
    await this.queue.start();
    try {
      while (!signal.aborted) {
        const t0 = Date.now();
        this.poked = false;
        try {
          await this.scan(t0);
          this.lastError = null;
        } catch (err) {
          if (signal.aborted) break;
          this.lastError = err instanceof Error ? err.message : String(err);
          this.ctx.log.error({ err }, "reconciler scan failed; retrying");
        }
        // Scan again after the interval, or right when a silent node's heartbeat times
        // out, whichever comes first: its repair starts the moment it counts as down.
        const expiry = this.nextExpiry - Date.now() + EXPIRY_SLACK_MS;
        const left = this.poked
          ? MIN_SCAN_GAP_MS
          : Math.max(MIN_SCAN_GAP_MS, Math.min(this.cfg.scanIntervalMs - (Date.now() - t0), Math.max(0, expiry)));
        const sleptAt = Date.now();
        await new Promise<void>((resolve) => {
          let settled = false;
          const done = () => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            signal.removeEventListener("abort", done);
            resolve();
          };
          const timer = setTimeout(done, left);
          signal.addEventListener("abort", done, { once: true });
          // Finished work wakes the next scan early, but scans stay MIN_SCAN_GAP_MS apart.
          this.wake = () => setTimeout(done, Math.max(0, MIN_SCAN_GAP_MS - (Date.now() - sleptAt)));
        });
        this.wake = null;
      }
    } finally {
      await this.queue.stop();
    }
  }

  private deleteInFlight(node: string) {
    return (chunk: string, since: number): boolean => {
      const key = taskKey({ kind: "delete", chunk, node });
      if (this.outstandingKeys.has(key)) return true;
      const at = this.recentDeletes.get(key);
      return at !== undefined && at >= since - 1_000;
    };
  }

  private async inventories(nodes: readonly ScanNode[], now: number): Promise<void> {
    const due = nodes.filter((n) => {
      if (!n.live) return false;
      if (now - (this.inventoryFailedAt.get(n.id) ?? 0) < INVENTORY_RETRY_MS) return false;
      const last = this.inventoried.get(n.id);
      return !last || last.epoch !== n.epoch || now - last.at >= this.cfg.orphanSweepMs;
    });
    await Promise.all(
      due.map(async (n) => {
        try {
          const r = await reconcileInventory(this.ctx, n, {
            deleteInFlight: this.deleteInFlight(n.id),
            protectedIds: this.protectedIds,
          });
          if (r.stale) return;
          this.inventoryFailedAt.delete(n.id);
          this.inventoried.set(n.id, { epoch: n.epoch, at: Date.now() });
          const dueOrphans = this.orphans.observe(n.id, r.orphans, this.cfg.gcGraceMs).filter((o) => {
            const key = taskKey({ kind: "delete", chunk: o.chunk, node: o.node });
            return !this.outstandingKeys.has(key) && (this.cooldown.get(key)?.until ?? 0) <= Date.now();
          });
          if (dueOrphans.length > 0) {
            this.ctx.log.info({ node: n.name, orphans: dueOrphans.length }, "deleting files no one references");
            await this.queue.enqueueOrphanDeletes(dueOrphans);
          }
        } catch (err) {
          this.inventoryFailedAt.set(n.id, Date.now());
          this.ctx.log.warn(
            { node: n.name, err: (err as Error).message },
            `node inventory failed; retrying in ${INVENTORY_RETRY_MS / 1000} s`,
          );
        }
      }),
    );
  }

  async scan(started = Date.now()): Promise<void> {
    const ctx = this.ctx;
    this.scans++;
    const nodes = await loadNodes(ctx.prisma, ctx.config);
    this.nextExpiry = Math.min(Infinity, ...nodes.filter((n) => n.live).map((n) => n.expiresAt));
    this.protectedIds = await protectedChunks(ctx.prisma);
    let out = await this.queue.outstanding();
    const atStart = out.tasks;
    this.outstandingKeys = new Set(out.tasks.map(taskKey));
    if (out.failedIds.length > 0) {
      await this.queue.dropFailed(out.failedIds);
      this.ctx.log.warn({ jobs: out.failedIds.length }, "dropped tasks that failed every attempt; replanning them");
    }

    await this.inventories(nodes, started);
    if (nodes.some((n) => n.status === "decommissioned")) await forgetDecommissioned(ctx);

    const placer = new PlacerCache(nodes);
    const policyCache = new Map();
    const tasks: Task[] = [];
    const garbage: string[] = [];
    let stats: PlanStats = emptyStats();
    for await (const page of chunkPages(ctx, {
      pageSize: this.cfg.pageSize,
      protectedIds: this.protectedIds,
      policyCache,
    })) {
      const plan = planChunks(page, nodes, placer);
      tasks.push(...plan.tasks);
      garbage.push(...plan.garbage);
      stats = addStats(stats, plan.stats);
    }

    const due = this.garbage.observe(garbage, this.cfg.gcGraceMs);
    await collectGarbage(ctx, due);

    // The queue may have moved on during the scan: admit against its current content.
    out = await this.queue.outstanding();
    this.outstandingKeys = new Set(out.tasks.map(taskKey));
    const now0 = Date.now();
    for (const [k, c] of this.cooldown) if (c.until < now0 - COOLDOWN_MAX_MS) this.cooldown.delete(k);
    const ready = tasks.filter((t) => (this.cooldown.get(taskKey(t))?.until ?? 0) <= now0);
    // The per-node limits count copy streams (batches of up to MAX_REPLICATE_BATCH chunks);
    // admission counts chunks and queues up to QUEUE_DEPTH full batches per stream. The
    // queue's slots hold the extra ones back while they run, so a node never idles until
    // the next scan.
    const l = this.cfg.limits;
    // A job that ended during the scan may have written its replica rows after the pages
    // were read: its chunks looked under-replicated. Admitting against it as well keeps
    // them from being queued a second time (a batch that only finds them there, and a
    // repair that looks unfinished until it has run); the scan its end woke sees the rows.
    const nowKeys = new Set(out.tasks.map(taskKey));
    const considered = [...out.tasks, ...atStart.filter((t) => !nowKeys.has(taskKey(t)))];
    const admitted = admit(ready, considered, {
      copiesInPerNode: l.copiesInPerNode * QUEUE_DEPTH * MAX_REPLICATE_BATCH,
      copiesOutPerNode: l.copiesOutPerNode * QUEUE_DEPTH * MAX_REPLICATE_BATCH,
      deletesPerNode: l.deletesPerNode * QUEUE_DEPTH,
      maxOutstanding: l.maxOutstanding,
    });
    await this.queue.enqueue(admitted);
    if (admitted.length > 0) {
      const by: Record<string, number> = {};
      for (const t of admitted) {
        const k = `${t.kind}/${t.reason}`;
        by[k] = (by[k] ?? 0) + 1;
      }
      ctx.log.info({ queued: by, planned: tasks.length, stats }, "reconciler queued work");
    }

    const now = Date.now();
    this.finished = this.finished.filter((f) => now - f.at < WINDOW_MS);
    for (const [k, at] of this.recentDeletes) if (now - at > WINDOW_MS) this.recentDeletes.delete(k);
    const copies = this.finished.filter((f) => f.outcome.outcome === "copied");
    await writeStatus(ctx, {
      leader: this.name,
      updatedAt: new Date().toISOString(),
      scanMs: now - started,
      queued: out.counts.queued + admitted.length,
      running: out.counts.running,
      retrying: out.counts.retrying,
      bytesLastMinute: copies.reduce((s, f) => s + f.bytes, 0),
      bytesPerSec: Math.round(
        copies.filter((f) => now - f.at < RATE_WINDOW_MS).reduce((s, f) => s + f.bytes, 0) / (RATE_WINDOW_MS / 1000),
      ),
      copiesLastMinute: copies.length,
      deletesLastMinute: this.finished.filter((f) => f.outcome.outcome === "deleted").length,
      failedLastMinute: 0,
      stats,
      garbageTracked: this.garbage.tracked,
      lastError: this.lastError,
    });
  }
}

/**
 * Leader election for the reconciler: every worker process runs this; the one holding
 * the PostgreSQL advisory lock (on its own connection) runs the Reconciler, the others
 * retry every `leaderRetryMs`. A leader that dies (even kill -9) loses the lock when its
 * connection closes, and a follower takes over within about a second.
 */
export async function runReconciler(
  ctx: ControlContext,
  cfg: ReconcilerConfig,
  opts: { databaseUrl: string; name: string; signal: AbortSignal },
): Promise<void> {
  const { signal } = opts;
  while (!signal.aborted) {
    let lock: SessionLock | null = null;
    try {
      lock = await SessionLock.tryAcquire(opts.databaseUrl, LEADER_LOCK.namespace, LEADER_LOCK.id, {
        applicationName: `cumulus-reconciler ${opts.name}`,
      });
    } catch (err) {
      ctx.log.warn({ err: (err as Error).message }, "cannot reach the database for the leader lock; retrying");
    }
    if (!lock) {
      await sleep(cfg.leaderRetryMs, undefined, { signal }).catch(() => undefined);
      continue;
    }
    ctx.log.info({ worker: opts.name }, "this worker now leads the reconciler");
    const ac = new AbortController();
    const onAbort = () => ac.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    lock.onLost((reason) => {
      ctx.log.error({ reason }, "lost the reconciler leader lock; stepping down");
      ac.abort();
    });
    try {
      await new Reconciler(ctx, cfg, { databaseUrl: opts.databaseUrl, name: opts.name }).lead(ac.signal);
    } catch (err) {
      ctx.log.error({ err }, "reconciler stopped with an error; stepping down");
      await sleep(cfg.leaderRetryMs, undefined, { signal }).catch(() => undefined);
    } finally {
      signal.removeEventListener("abort", onAbort);
      await lock.release();
    }
  }
}
