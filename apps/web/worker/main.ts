// The control plane's background worker: a separate process from the Next.js server so
// that long-running loops never share an event loop with request handling. Failure
// detection is idempotent and runs in every worker; the reconciler (repair, rebalancing,
// scrub repairs, garbage collection) runs in whichever worker holds its leader lock, so
// running several workers is safe and gives fail-over.
import os from "node:os";
import { createPrismaClient } from "@cumulus/db/client";
import { createLogger } from "@cumulus/control/logger";
import { detectFailedNodes } from "@cumulus/control/nodes/detect-failures";
import type { ControlContext } from "@cumulus/control/context";
import { DEFAULT_RECONCILER_CONFIG, type ReconcilerConfig } from "@cumulus/control/reconciler/config";
import { runReconciler } from "@cumulus/control/reconciler/reconciler";
import { controlConfig, env } from "../src/env.ts";

const e = env();
// The pid tells a restarted worker from its predecessor of the same name (sysinfo shows the leader).
const name = `${e.CUMULUS_WORKER_NAME ?? os.hostname()} (pid ${process.pid})`;
const ctx: ControlContext = {
  prisma: createPrismaClient(e.DATABASE_URL),
  log: createLogger("worker", e.CUMULUS_LOG_LEVEL).child({ worker: name }),
  config: controlConfig(e),
};
const d = DEFAULT_RECONCILER_CONFIG;
const perNode = e.CUMULUS_REPAIR_PER_NODE;
const reconcilerConfig: ReconcilerConfig = {
  ...d,
  scanIntervalMs: e.CUMULUS_RECONCILE_INTERVAL_MS ?? d.scanIntervalMs,
  limits: perNode ? { ...d.limits, copiesInPerNode: perNode, copiesOutPerNode: perNode } : d.limits,
  concurrency: e.CUMULUS_REPAIR_CONCURRENCY ?? d.concurrency,
  gcGraceMs: e.CUMULUS_GC_GRACE_MS ?? d.gcGraceMs,
  orphanSweepMs: e.CUMULUS_ORPHAN_SWEEP_MS ?? d.orphanSweepMs,
};

const stop = new AbortController();
const FAILURE_SWEEP_MS = 1_000;

async function failureDetectorLoop(): Promise<void> {
  while (!stop.signal.aborted) {
    try {
      await detectFailedNodes(ctx);
    } catch (err) {
      ctx.log.error({ err }, "failure detection sweep failed; retrying");
    }
    await new Promise((r) => setTimeout(r, FAILURE_SWEEP_MS));
  }
}

let reconciler: Promise<void> = Promise.resolve();

async function shutdown(signal: string): Promise<void> {
  if (stop.signal.aborted) return;
  stop.abort();
  ctx.log.info({ signal }, "worker stopping");
  await Promise.race([reconciler, new Promise((r) => setTimeout(r, 8_000))]);
  await ctx.prisma.$disconnect();
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));

ctx.log.info({ nodeTimeoutMs: ctx.config.nodeTimeoutMs, reconciler: reconcilerConfig }, "worker started");
void failureDetectorLoop();
reconciler = runReconciler(ctx, reconcilerConfig, { databaseUrl: e.DATABASE_URL, name, signal: stop.signal }).catch(
  (err: unknown) => ctx.log.fatal({ err }, "reconciler loop crashed"),
);
