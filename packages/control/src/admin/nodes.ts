import { z } from "zod";
import { AppError } from "@cumulus/protocol/errors";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { audit } from "../audit/audit.ts";
import { drainNode, nodeDrainStatus, removeNode } from "../nodes/drain-node.ts";

/**
 * Storage-node administration for the admin pages. Draining and decommissioning go
 * through nodes/drain-node (the same functions as `cumulus node drain|remove`): a
 * draining node keeps serving reads, receives no new replicas, and the reconciler moves
 * its chunks away; decommissioning is refused while any chunk still needs its copy.
 * Cancelling a drain (back to active) is here.
 */

export type NodeDetail = {
  id: string;
  name: string;
  site: string;
  status: "active" | "draining" | "down" | "decommissioned";
  /** The stored status says active/draining but the heartbeat is older than the timeout. */
  silent: boolean;
  dataUrl: string;
  udtAddress: string | null;
  version: string;
  epoch: number;
  capacityBytes: number;
  usedBytes: number;
  chunkCount: number;
  /** Replicas the control plane believes are on this node, by state. */
  replicas: { stored: number; corrupt: number; deleting: number };
  load: {
    cpu: number | null;
    inflightRequests: number | null;
    bytesInPerSec: number | null;
    bytesOutPerSec: number | null;
  };
  lastHeartbeatAt: string;
  heartbeatAgeMs: number;
  registeredAt: string;
  createdAt: string;
  now: string;
  nodeTimeoutMs: number;
  samples: { at: string; usedBytes: number; capacityBytes: number; chunkCount: number; cpu: number }[];
  /** How far the node is from being able to leave (chunks that still need its copy). */
  drain: { needed: number; soleCopies: number; drained: boolean } | null;
};

export const ZNodeId = z.object({ id: z.uuid() });

function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

export async function nodeDetail(ctx: ControlContext, input: unknown, now = new Date()): Promise<NodeDetail> {
  const { id } = ZNodeId.parse(input);
  const n = await ctx.prisma.storageNode.findUnique({ where: { id }, include: { site: { select: { name: true } } } });
  if (!n) throw new AppError("NOT_FOUND", "no such storage node");
  const [byState, samples, drain] = await Promise.all([
    ctx.prisma.chunkReplica.groupBy({ by: ["state"], where: { nodeId: id }, _count: true }),
    ctx.prisma.nodeSample.findMany({
      where: { nodeId: id, at: { gte: new Date(now.getTime() - 24 * 3600_000) } },
      orderBy: { at: "asc" },
      take: 3000,
    }),
    nodeDrainStatus(ctx, { node: id }, now).catch((err: unknown) => {
      ctx.log.warn({ err, node: n.name }, "drain status unavailable");
      return null;
    }),
  ]);
  const count = (s: string) => byState.find((b) => b.state === s)?._count ?? 0;
  const load = (n.load ?? {}) as Record<string, unknown>;
  const age = now.getTime() - n.lastHeartbeatAt.getTime();
  return {
    id: n.id,
    name: n.name,
    site: n.site.name,
    status: n.status,
    silent: (n.status === "active" || n.status === "draining") && age > ctx.config.nodeTimeoutMs,
    dataUrl: n.dataUrl,
    udtAddress: n.udtAddress,
    version: n.version,
    epoch: n.epoch,
    capacityBytes: Number(n.capacityBytes),
    usedBytes: Number(n.usedBytes),
    chunkCount: n.chunkCount,
    replicas: { stored: count("stored"), corrupt: count("corrupt"), deleting: count("deleting") },
    load: {
      cpu: num(load["cpu"]),
      inflightRequests: num(load["inflightRequests"]),
      bytesInPerSec: num(load["bytesInPerSec"]),
      bytesOutPerSec: num(load["bytesOutPerSec"]),
    },
    lastHeartbeatAt: n.lastHeartbeatAt.toISOString(),
    heartbeatAgeMs: age,
    registeredAt: n.registeredAt.toISOString(),
    createdAt: n.createdAt.toISOString(),
    now: now.toISOString(),
    nodeTimeoutMs: ctx.config.nodeTimeoutMs,
    samples: samples.map((s) => ({
      at: s.at.toISOString(),
      usedBytes: Number(s.usedBytes),
      capacityBytes: Number(s.capacityBytes),
      chunkCount: s.chunkCount,
      cpu: s.cpu,
    })),
    drain: drain ? { needed: drain.needed, soleCopies: drain.soleCopies, drained: drain.drained } : null,
  };
}

export const ZSetNodeStatus = z.object({ id: z.uuid(), status: z.enum(["active", "draining", "decommissioned"]) });

/**
 * draining: from active or down (drainNode). decommissioned: once no chunk needs the
 * node's copies (removeNode; CONFLICT with the count otherwise). active: back from
 * draining (cancels a drain; audited as node.activate).
 */
export async function setNodeStatus(
  ctx: ControlContext,
  admin: AuthUser,
  input: unknown,
  meta: { ip?: string | null } = {},
): Promise<{ status: string }> {
  const req = ZSetNodeStatus.parse(input);
  if (req.status === "draining") return { status: (await drainNode(ctx, admin, { node: req.id }, meta)).status };
  if (req.status === "decommissioned") return { status: (await removeNode(ctx, admin, { node: req.id }, meta)).status };
  const n = await ctx.prisma.storageNode.findUnique({ where: { id: req.id } });
  if (!n) throw new AppError("NOT_FOUND", "no such storage node");
  if (n.status === "active") return { status: n.status };
  if (n.status !== "draining") {
    throw new AppError("CONFLICT", `node ${n.name} is ${n.status}: only a draining node can be made active again`);
  }
  // Conditional on the status we checked, so two admins cannot race each other.
  const { count } = await ctx.prisma.storageNode.updateMany({
    where: { id: n.id, status: "draining" },
    data: { status: "active" },
  });
  if (count === 0) throw new AppError("CONFLICT", `node ${n.name} changed meanwhile: reload and try again`);
  await audit(ctx, {
    action: "node.activate",
    actor: admin.email,
    actorId: admin.id,
    target: n.name,
    ip: meta.ip ?? null,
    details: { nodeId: n.id, before: n.status, after: "active" },
  });
  ctx.log.info({ node: n.name, by: admin.email }, "node drain cancelled");
  return { status: "active" };
}
