import { createPrismaClient } from "@cumulus/db/client";
import { createLogger } from "@cumulus/control/logger";
import type { ControlContext } from "@cumulus/control/context";
import { ChangeSignal } from "@cumulus/control/changes/change-signal";
import { controlConfig, env } from "../env.ts";

const globalForCtx = globalThis as unknown as { cumulusCtx?: ControlContext };

/** One context (Prisma pool, logger, config) per server process. */
export function ctx(): ControlContext {
  if (!globalForCtx.cumulusCtx) {
    const e = env();
    const log = createLogger("control", e.CUMULUS_LOG_LEVEL);
    globalForCtx.cumulusCtx = {
      prisma: createPrismaClient(e.DATABASE_URL),
      log,
      config: controlConfig(e),
      changes: new ChangeSignal(e.DATABASE_URL, log),
    };
  }
  return globalForCtx.cumulusCtx;
}
