import type { ControlContext } from "../context.ts";
import { audit } from "../audit/audit.ts";

/**
 * Marks nodes whose last heartbeat is older than the timeout as `down`. Their replicas
 * stop counting from this moment; the node must register again (new epoch) to return.
 * Idempotent, so any number of workers may run it.
 */
export async function detectFailedNodes(ctx: ControlContext, now = new Date()): Promise<string[]> {
  const cutoff = new Date(now.getTime() - ctx.config.nodeTimeoutMs);
  const downed = await ctx.prisma.$queryRaw<{ name: string; lastHeartbeatAt: Date }[]>`
    UPDATE "StorageNode" SET status = 'down'
    WHERE status IN ('active', 'draining') AND "lastHeartbeatAt" < ${cutoff}
    RETURNING name, "lastHeartbeatAt"`;
  for (const node of downed) {
    const silentFor = Math.round((now.getTime() - node.lastHeartbeatAt.getTime()) / 1000);
    ctx.log.warn({ node: node.name, silentForSeconds: silentFor }, "storage node is down: no heartbeat");
    await audit(ctx, {
      action: "node.down",
      actor: "system",
      target: node.name,
      details: { silentForSeconds: silentFor },
    });
  }
  return downed.map((n) => n.name);
}
