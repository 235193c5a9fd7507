import { createPrismaClient } from "@cumulus/db/client";
import { createLogger } from "@cumulus/control/logger";
import type { ControlContext } from "@cumulus/control/context";
import { controlConfig, env } from "../env.ts";

const globalForCtx = globalThis as unknown as { cumulusCtx?: ControlContext };

/** One context (Prisma pool, logger, config) per server process. */
export function ctx(): ControlContext {
  if (!globalForCtx.cumulusCtx) {
    const e = env();
    globalForCtx.cumulusCtx = {
      prisma: createPrismaClient(e.DATABASE_URL),
      log: createLogger("control", e.CUMULUS_LOG_LEVEL),
      config: controlConfig(e),
    };
  }
  return globalForCtx.cumulusCtx;
}
