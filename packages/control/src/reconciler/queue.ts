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
import type { ControlContext } from "../context.ts";
import type { ReconcilerConfig } from "./config.ts";
import { taskKey, type OutstandingTask, type Task } from "./plan.ts";
import { runCopy, runDelete, type CopyPayload, type DeletePayload, type TaskOutcome } from "./tasks.ts";

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
export const DELETE_TASK = "cumulus_delete";

export type QueueCounts = { queued: number; running: number; retrying: number };

export type FinishedTask = { key: string; kind: "copy" | "delete"; at: number; outcome: TaskOutcome; bytes: number };

export type QueueDeps = {
  ctx: ControlContext;
  databaseUrl: string;
  config: ReconcilerConfig;
  /** Chunk ids an upload in progress references (for orphan deletes). */
  isProtected: (chunk: string) => Promise<boolean>;
  onFinished: (t: FinishedTask) => void;
};

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

  constructor(deps: QueueDeps) {
    this.d = deps;
    this.log = deps.ctx.log;
  }

  /** Takes over the queue: unlock what a dead leader held, then start running jobs. */
  async start(): Promise<void> {
    const { databaseUrl, config } = this.d;
    const logger = graphileLogger(this.log);
    await migrateQueue(databaseUrl, this.log);
    this.utils = await makeWorkerUtils({ connectionString: databaseUrl, logger });
    const locked = await this.d.ctx.prisma.$queryRaw<{ lockedBy: string }[]>`
      SELECT DISTINCT locked_by AS "lockedBy" FROM graphile_worker.jobs
      WHERE locked_by IS NOT NULL AND task_identifier IN (${COPY_TASK}, ${DELETE_TASK})`;
    if (locked.length > 0) {
      await this.utils.forceUnlockWorkers(locked.map((l) => l.lockedBy));
      this.log.warn({ workers: locked.length }, "took over the repair queue: unlocked the previous leader's jobs");
    }
    const taskList: Record<string, GraphileTask> = {
      [COPY_TASK]: async (payload, helpers) => {
        const p = payload as CopyPayload;
        const key = taskKey({ kind: "copy", chunk: p.chunk, target: p.target });
        const outcome = await runCopy(this.d.ctx, p, { timeoutMs: config.copyTimeoutMs, signal: helpers.abortSignal });
        this.d.onFinished({
          key,
          kind: "copy",
          at: Date.now(),
          outcome,
          bytes: outcome.outcome === "copied" ? outcome.bytes : 0,
        });
      },
      [DELETE_TASK]: async (payload) => {
        const p = payload as DeletePayload;
        const key = taskKey({ kind: "delete", chunk: p.chunk, node: p.node });
        const outcome = await runDelete(this.d.ctx, p, { timeoutMs: 30_000, isProtected: this.d.isProtected });
        this.d.onFinished({ key, kind: "delete", at: Date.now(), outcome, bytes: 0 });
      },
    };
    this.runner = await run({
      connectionString: databaseUrl,
      concurrency: config.concurrency,
      maxPoolSize: config.concurrency + 4,
      noHandleSignals: true,
      pollInterval: 1_000,
      taskList,
      logger,
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
      WHERE t.identifier IN (${COPY_TASK}, ${DELETE_TASK})`;
    const tasks: OutstandingTask[] = [];
    const counts: QueueCounts = { queued: 0, running: 0, retrying: 0 };
    const failedIds: string[] = [];
    for (const r of rows) {
      if (!r.locked && r.attempts >= r.maxAttempts) {
        failedIds.push(r.id);
        continue;
      }
      if (r.locked) counts.running++;
      else if (r.attempts > 0) counts.retrying++;
      else counts.queued++;
      if (r.task === COPY_TASK) {
        const p = r.payload as CopyPayload;
        tasks.push({ kind: "copy", chunk: p.chunk, target: p.target, source: p.sources[0] ?? null });
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
    await this.utils.addJobs(
      tasks.map((t) =>
        t.kind === "copy"
          ? {
              identifier: COPY_TASK,
              payload: {
                chunk: t.chunk,
                size: t.size,
                target: t.target,
                sources: t.sources,
                reason: t.reason,
              } satisfies CopyPayload,
              priority: t.priority,
              job_key: taskKey(t),
              max_attempts: max,
            }
          : {
              identifier: DELETE_TASK,
              payload: {
                chunk: t.chunk,
                node: t.node,
                reason: t.reason,
                minOthers: t.minOthers,
              } satisfies DeletePayload,
              priority: t.priority,
              job_key: taskKey(t),
              max_attempts: max,
            },
      ),
    );
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
          ifUnmodifiedSince: Math.floor(o.mtimeMs),
        } satisfies DeletePayload,
        priority: 45,
        job_key: taskKey({ kind: "delete", chunk: o.chunk, node: o.node }),
        max_attempts: this.d.config.maxAttempts,
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
