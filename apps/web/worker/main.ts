// The control plane's background worker: a separate process from the Next.js server so
// that long-running loops never share an event loop with request handling. Every loop
// here is idempotent, so running several workers is safe.
import { createPrismaClient } from "@cumulus/db/client";
import { createLogger } from "@cumulus/control/logger";
import { detectFailedNodes } from "@cumulus/control/nodes/detect-failures";
import type { ControlContext } from "@cumulus/control/context";
import { controlConfig, env } from "../src/env.ts";

const e = env();
const ctx: ControlContext = {
  prisma: createPrismaClient(e.DATABASE_URL),
  log: createLogger("worker", e.CUMULUS_LOG_LEVEL),
  config: controlConfig(e),
};

let stopped = false;
const FAILURE_SWEEP_MS = 1_000;

async function failureDetectorLoop(): Promise<void> {
  while (!stopped) {
    try {
      await detectFailedNodes(ctx);
    } catch (err) {
      ctx.log.error({ err }, "failure detection sweep failed; retrying");
    }
    await new Promise((r) => setTimeout(r, FAILURE_SWEEP_MS));
  }
}

async function shutdown(signal: string): Promise<void> {
  if (stopped) return;
  stopped = true;
  ctx.log.info({ signal }, "worker stopping");
  await ctx.prisma.$disconnect();
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));

ctx.log.info({ nodeTimeoutMs: ctx.config.nodeTimeoutMs }, "worker started");
void failureDetectorLoop();
