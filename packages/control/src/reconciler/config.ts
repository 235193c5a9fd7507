import { DEFAULT_LIMITS, type Limits } from "./plan.ts";

/** Tuning of the reconciler (the worker reads it from the environment). */
export type ReconcilerConfig = {
  /** Pause between two scans of every chunk. */
  scanIntervalMs: number;
  /** Chunks per page of a scan (one batch of queries). */
  pageSize: number;
  /** Per-node concurrency of copies and deletes, and the queue's size. */
  limits: Limits;
  /** Jobs the leader's graphile-worker runner executes at once. */
  concurrency: number;
  /** Unreferenced chunks (and unknown files on nodes) are deleted after this long. */
  gcGraceMs: number;
  /** Every node's inventory is listed this often to find files nobody knows (orphans). */
  orphanSweepMs: number;
  /** One node-to-node copy may take this long. */
  copyTimeoutMs: number;
  /** Attempts of a copy or delete job (graphile-worker retries with exponential backoff). */
  maxAttempts: number;
  /** How often a follower tries to take the leader lock. */
  leaderRetryMs: number;
};

export const DEFAULT_RECONCILER_CONFIG: ReconcilerConfig = {
  scanIntervalMs: 2_000,
  pageSize: 2_000,
  limits: DEFAULT_LIMITS,
  concurrency: 24,
  gcGraceMs: 3600_000,
  orphanSweepMs: 10 * 60_000,
  copyTimeoutMs: 120_000,
  maxAttempts: 6,
  leaderRetryMs: 1_000,
};

/** Advisory-lock key of the reconciler's leader: (namespace, id). */
export const LEADER_LOCK = { namespace: 0x43756d75, id: 1 } as const; // "Cumu"

/** ClusterSetting row the leader writes its status to (sysinfo reads it). */
export const STATUS_KEY = "reconciler.status";

/**
 * The reconciler's short transactions wait longer than Prisma's 2 s default for a
 * connection: on a loaded machine the pool is busy for seconds, and a task that gave up
 * would only be retried later with backoff.
 */
export const TX_OPTIONS = { maxWait: 10_000, timeout: 20_000 } as const;
