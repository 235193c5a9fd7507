import type { Health } from "@cumulus/protocol/health";
import type { ControlContext } from "../context.ts";

export const VERSION = "0.1.0";

/**
 * Cluster health for load balancers and scripts. A node counts as active only when it is
 * marked active AND its heartbeat is fresh, so the answer is right even in the seconds
 * before the worker's failure detector has marked a silent node down.
 */
export async function getHealth(
  ctx: ControlContext,
  now = new Date(),
): Promise<{ health: Health; httpStatus: number }> {
  try {
    const cutoff = new Date(now.getTime() - ctx.config.nodeTimeoutMs);
    const [total, active] = await Promise.all([
      ctx.prisma.storageNode.count({ where: { status: { not: "decommissioned" } } }),
      ctx.prisma.storageNode.count({ where: { status: "active", lastHeartbeatAt: { gte: cutoff } } }),
    ]);
    return {
      health: {
        status: active === total ? "ok" : "degraded",
        database: "ok",
        nodes: { active, total },
        version: VERSION,
      },
      httpStatus: 200,
    };
  } catch (err) {
    ctx.log.error({ err }, "health check: database unreachable");
    return {
      health: { status: "degraded", database: "unreachable", nodes: { active: 0, total: 0 }, version: VERSION },
      httpStatus: 503,
    };
  }
}
