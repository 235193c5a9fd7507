import {
  Logger as GraphileLogger,
  makeWorkerUtils,
  run,
  runMigrations,
  type Runner,
  type Task as GraphileTask,
  type WorkerUtils,
} from "graphile-worker";
import type { Logger } from "pino";
import { AppError } from "@cumulus/protocol/errors";
import type { ControlContext } from "../context.ts";
import type { ReconcilerConfig } from "./config.ts";
import { taskKey, type OutstandingTask, type Task } from "./plan.ts";
import { MAX_REPLICATE_BATCH } from "@cumulus/protocol/node-api";
import { runCopy, runCopyBatch, runDelete, type CopyPayload, type DeletePayload, type TaskOutcome } from "./tasks.ts";
import { NodeSlots } from "./slots.ts";

/**
 * The reconciler's task queue, on graphile-worker (PostgreSQL): durable, ordered by
 * priority, deduplicated by job key (`copy:<chunk>:<target>`, `delete:<chunk>:<node>`),
 * retried with exponential backoff, visible to every process (sysinfo counts it).
 *
 * Only the leader runs a graphile-worker runner, and only the leader enqueues: the jobs
 * then run next to the scan that planned them, which keeps the per-node concurrency
 * limits exact (admission counts the queue) and lets the inventory of a node see which
 * copies and deletes are in flight. A new leader first unlocks the jobs its dead
 * predecessor had locked (graphile-worker alone would wait 4 hours), then resumes the
 * queue where it was.
 */

export const COPY_TASK = "cumulus_copy";
/**
 * Many copies from one source to one target in one job (a graphile-worker batch job: the
 * payload is an array, and only the entries that fail are retried). Per-chunk jobs cost
 * a queue round trip, a few queries and a request each; recovery moves hundreds of
 * chunks per node, so they travel together (FDS-style bulk recovery).
 */
export const COPY_BATCH_TASK = "cumulus_copy_batch";
export const DELETE_TASK = "cumulus_delete";

/** Bytes one copy batch carries at most (with at most MAX_REPLICATE_BATCH chunks). */
const BATCH_MAX_BYTES = 64 * 1024 * 1024;

export type QueueCounts = { queued: number; running: number; retrying: number };

export type FinishedTask = { key: string; kind: "copy" | "delete"; at: number; outcome: TaskOutcome; bytes: number };

export type QueueDeps = {
  ctx: ControlContext;
  databaseUrl: string;
  config: ReconcilerConfig;
  /** Chunk ids an upload in progress references (for orphan deletes). */
  isProtected: (chunk: string) => Promise<boolean>;
  onFinished: (t: FinishedTask) => void;
  /** A job ended with success: the queue just got shorter (the status can say so). */
  onJobDone?: () => void;
};

/** Jobs that ended with success are remembered this long (their row's delete may lag). */
const DONE_MEMORY_MS = 60_000;

function graphileLogger(log: Logger): GraphileLogger {
  return new GraphileLogger(() => (level, message, meta) => {
    const m = meta ?? {};
    if (level === "error") log.error(m, `graphile-worker: ${message}`);
    else if (level === "warning") log.warn(m, `graphile-worker: ${message}`);
    else log.debug(m, `graphile-worker: ${message}`);
  });
}

/** Installs (or upgrades) graphile-worker's schema. */
export async function migrateQueue(databaseUrl: string, log: Logger): Promise<void> {
  await runMigrations({ connectionString: databaseUrl, logger: graphileLogger(log) });
}

export class RepairQueue {
  private readonly d: QueueDeps;
  private runner: Runner | null = null;
  private utils: WorkerUtils | null = null;
  private readonly log: Logger;
  /** The per-node limits, enforced while tasks run (admission queues a little more). */
  readonly slots: NodeSlots;
  /**
   * Jobs that ended with success in this process, by id: graphile-worker deletes their
   * row without waiting, so right after the last copy of a repair the row can still be
   * locked and the scan it triggers would report the repair as running for one more
   * interval.
   */
  private readonly done = new Map<string, number>();

  constructor(deps: QueueDeps) {
    this.d = deps;
    this.log = deps.ctx.log;
    const l = deps.config.limits;
    this.slots = new NodeSlots({ in: l.copiesInPerNode, out: l.copiesOutPerNode, del: l.deletesPerNode });
  }

  /** Takes over the queue: unlock what a dead leader held, then start running jobs. */
  async start(): Promise<void> {
    const { databaseUrl, config } = this.d;
    const logger = graphileLogger(this.log);
    await migrateQueue(databaseUrl, this.log);
    this.utils = await makeWorkerUtils({ connectionString: databaseUrl, logger });
    const locked = await this.d.ctx.prisma.$queryRaw<{ lockedBy: string }[]>`
      SELECT DISTINCT locked_by AS "lockedBy" FROM graphile_worker.jobs
      WHERE locked_by IS NOT NULL AND task_identifier IN (${COPY_TASK}, ${COPY_BATCH_TASK}, ${DELETE_TASK})`;
    if (locked.length > 0) {
      await this.utils.forceUnlockWorkers(locked.map((l) => l.lockedBy));
      this.log.warn({ workers: locked.length }, "took over the repair queue: unlocked the previous leader's jobs");
    }
    // A node that cannot be reached (down, restarting, no source for a copy) is not worth
    // graphile-worker's exponential retries (e^attempts seconds): the job ends, and the scan
    // plans the work again after a short cool-down (Reconciler.cooldown), against the
    // cluster as it is then. Other errors are retried by graphile-worker with its backoff.
    const settle = async (key: string, kind: "copy" | "delete", run: () => Promise<TaskOutcome>) => {
      let outcome: TaskOutcome;
      try {
        outcome = await run();
      } catch (err) {
        if (!(err instanceof AppError) || err.code !== "UNAVAILABLE") throw err;
        outcome = { outcome: "unavailable", why: err.message };
      }
      this.d.onFinished({
        key,
        kind,
        at: Date.now(),
        outcome,
        bytes: outcome.outcome === "copied" ? outcome.bytes : 0,
      });
    };
    const taskList: Record<string, GraphileTask> = {
      [COPY_TASK]: async (payload, helpers) => {
        const p = payload as CopyPayload;
        const releaseIn = await this.slots.acquire("in", p.target);
        const releaseOut = p.sources[0] ? await this.slots.acquire("out", p.sources[0]) : () => undefined;
        try {
          await settle(taskKey({ kind: "copy", chunk: p.chunk, target: p.target }), "copy", () =>
            runCopy(this.d.ctx, p, { timeoutMs: config.copyTimeoutMs, signal: helpers.abortSignal }),
          );
        } finally {
          releaseOut();
          releaseIn();
        }
      },
      [COPY_BATCH_TASK]: async (payload, helpers) => {
        const items = payload as CopyPayload[];
        if (!Array.isArray(items) || items.length === 0) return;
        // One batch is one stream out of its source into its target: one slot on each.
        const first = items[0]!;
        const releaseIn = await this.slots.acquire("in", first.target);
        const releaseOut = first.sources[0] ? await this.slots.acquire("out", first.sources[0]) : () => undefined;
        let results: PromiseSettledResult<TaskOutcome>[];
        try {
          results = await runCopyBatch(this.d.ctx, items, {
            timeoutMs: config.copyTimeoutMs,
            signal: helpers.abortSignal,
          });
        } catch (err) {
          results = items.map(() => ({ status: "rejected", reason: err }));
        } finally {
          releaseOut();
          releaseIn();
        }
        // One promise per entry: graphile-worker retries only the rejected ones.
        return items.map((p, i) => {
          const r = results[i]!;
          return settle(taskKey({ kind: "copy", chunk: p.chunk, target: p.target }), "copy", () =>
            r.status === "fulfilled" ? Promise.resolve(r.value) : Promise.reject(r.reason as Error),
          );
        });
      },
      [DELETE_TASK]: async (payload) => {
        const p = payload as DeletePayload;
        const release = await this.slots.acquire("del", p.node);
        try {
          await settle(taskKey({ kind: "delete", chunk: p.chunk, node: p.node }), "delete", () =>
            runDelete(this.d.ctx, p, { timeoutMs: 30_000, isProtected: this.d.isProtected }),
          );
        } finally {
          release();
        }
      },
    };
    this.runner = await run({
      connectionString: databaseUrl,
      concurrency: config.concurrency,
      // Tasks hold no connection while they wait for a slot or a node: a small pool is enough.
      maxPoolSize: Math.min(config.concurrency, 12),
      noHandleSignals: true,
      pollInterval: 1_000,
      taskList,
      logger,
    });
    this.runner.events.on("job:complete", ({ job, error }) => {
      if (error !== undefined && error !== null) return;
      this.done.set(String(job.id), Date.now());
      this.d.onJobDone?.();
    });
  }

  /** Jobs of ours in the queue (waiting, retrying or running), for admission. */
  async outstanding(): Promise<{ tasks: OutstandingTask[]; counts: QueueCounts; failedIds: string[] }> {
    const rows = await this.d.ctx.prisma.$queryRaw<
      { id: string; task: string; payload: unknown; locked: boolean; attempts: number; maxAttempts: number }[]
    >`
      SELECT j.id::text AS id, t.identifier AS task, j.payload, (j.locked_at IS NOT NULL) AS locked,
             j.attempts, j.max_attempts AS "maxAttempts"
      FROM graphile_worker._private_jobs j JOIN graphile_worker._private_tasks t ON t.id = j.task_id
      WHERE t.identifier IN (${COPY_TASK}, ${COPY_BATCH_TASK}, ${DELETE_TASK})`;
    const tasks: OutstandingTask[] = [];
    const counts: QueueCounts = { queued: 0, running: 0, retrying: 0 };
    const failedIds: string[] = [];
    const present = new Set(rows.map((r) => r.id));
    const cutoff = Date.now() - DONE_MEMORY_MS;
    for (const [id, at] of this.done) if (!present.has(id) || at < cutoff) this.done.delete(id);
    for (const r of rows) {
      if (r.locked && this.done.has(r.id)) continue;
      if (!r.locked && r.attempts >= r.maxAttempts) {
        failedIds.push(r.id);
        continue;
      }
      // Counted in chunk tasks, not jobs: a batch job carries many copies.
      const n = r.task === COPY_BATCH_TASK && Array.isArray(r.payload) ? r.payload.length : 1;
      if (r.locked) counts.running += n;
      else if (r.attempts > 0) counts.retrying += n;
      else counts.queued += n;
      if (r.task === COPY_TASK) {
        const p = r.payload as CopyPayload;
        tasks.push({ kind: "copy", chunk: p.chunk, target: p.target, source: p.sources[0] ?? null });
      } else if (r.task === COPY_BATCH_TASK) {
        for (const p of Array.isArray(r.payload) ? (r.payload as CopyPayload[]) : []) {
          tasks.push({ kind: "copy", chunk: p.chunk, target: p.target, source: p.sources[0] ?? null });
        }
      } else {
        const p = r.payload as DeletePayload;
        tasks.push({ kind: "delete", chunk: p.chunk, node: p.node });
      }
    }
    return { tasks, counts, failedIds };
  }

  /** Drops jobs that used up their attempts, so the next scan plans them afresh. */
  async dropFailed(ids: readonly string[]): Promise<void> {
    if (ids.length === 0 || !this.utils) return;
    await this.utils.completeJobs(ids as string[]);
  }

  async enqueue(tasks: readonly Task[]): Promise<void> {
    if (tasks.length === 0 || !this.utils) return;
    const max = this.d.config.maxAttempts;
    // Copies travel in batches: same target, same chosen source, same priority (so an
    // urgent repair never waits behind a rebalance that shares its batch). Admission has
    // already skipped what is queued, so batches need no job key.
    const batches = new Map<string, { priority: number; items: CopyPayload[]; bytes: number }[]>();
    for (const t of tasks) {
      if (t.kind !== "copy") continue;
      const key = `${t.target}:${t.sources[0] ?? ""}:${t.priority}`;
      const list = batches.get(key) ?? [];
      let b = list[list.length - 1];
      if (!b || b.items.length >= MAX_REPLICATE_BATCH || b.bytes + t.size > BATCH_MAX_BYTES) {
        b = { priority: t.priority, items: [], bytes: 0 };
        list.push(b);
      }
      b.items.push({ chunk: t.chunk, size: t.size, target: t.target, sources: t.sources, reason: t.reason });
      b.bytes += t.size;
      batches.set(key, list);
    }
    const copyJobs = [...batches.values()].flat().map((b) => ({
      identifier: COPY_BATCH_TASK,
      payload: b.items,
      priority: b.priority,
      maxAttempts: max,
    }));
    await this.utils.addJobs([
      ...copyJobs,
      ...tasks.flatMap((t) =>
        t.kind === "copy"
          ? []
          : {
              identifier: DELETE_TASK,
              payload: {
                chunk: t.chunk,
                node: t.node,
                reason: t.reason,
                minOthers: t.minOthers,
              } satisfies DeletePayload,
              priority: t.priority,
              jobKey: taskKey(t),
              maxAttempts: max,
            },
      ),
    ]);
  }

  /** Orphan files found by an inventory: not in the planner's view (no chunk row). */
  async enqueueOrphanDeletes(orphans: readonly { chunk: string; node: string; mtimeMs: number }[]): Promise<void> {
    if (orphans.length === 0 || !this.utils) return;
    await this.utils.addJobs(
      orphans.map((o) => ({
        identifier: DELETE_TASK,
        payload: {
          chunk: o.chunk,
          node: o.node,
          reason: "orphan",
          minOthers: 0,
          // Rounded up: file times have sub-millisecond precision, the claim is whole ms.
          ifUnmodifiedSince: Math.ceil(o.mtimeMs),
        } satisfies DeletePayload,
        priority: 45,
        jobKey: taskKey({ kind: "delete", chunk: o.chunk, node: o.node }),
        maxAttempts: this.d.config.maxAttempts,
      })),
    );
  }

  /** Stops running jobs (lets running ones finish) and releases the queue. */
  async stop(): Promise<void> {
    const runner = this.runner;
    this.runner = null;
    await runner?.stop().catch((err: unknown) => this.log.warn({ err }, "graphile-worker runner stop failed"));
    await Promise.resolve(this.utils?.release()).catch(() => undefined);
    this.utils = null;
  }
}
