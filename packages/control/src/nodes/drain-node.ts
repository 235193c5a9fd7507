import { z } from "zod";
import { AppError } from "@cumulus/protocol/errors";
import type { NodeDrainStatus } from "@cumulus/protocol/api";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { audit } from "../audit/audit.ts";
import { chunkTargets } from "../reconciler/state.ts";

/**
 * Taking storage nodes out of the cluster. One set of functions for every caller: the
 * /api/v1/nodes routes (CLI `cumulus node drain|remove`), and the admin UI's tRPC
 * procedures.
 *
 * - drain: the node stops receiving new replicas (placement skips draining nodes) but
 *   keeps serving reads and its copies keep counting; the reconciler copies every chunk it
 *   holds to where placement wants it and deletes the node's copy only once the
 *   replacement is confirmed, so nothing is under-replicated at any moment.
 * - remove: decommission a node once nothing it holds is needed any more (a drained node,
 *   or a dead one whose chunks were re-replicated elsewhere); refused while it still holds
 *   copies some chunk needs to reach its policy — in particular the only copies.
 */

/** A node by name or id. */
export const ZNodeRef = z.object({ node: z.string().min(1).max(64) });

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BATCH = 5_000;

function requireAdmin(user: AuthUser): void {
  if (user.role !== "admin") throw new AppError("FORBIDDEN", "only administrators manage storage nodes");
}

async function findNode(ctx: ControlContext, ref: string) {
  const n = await ctx.prisma.storageNode.findFirst({
    where: UUID.test(ref) ? { OR: [{ id: ref.toLowerCase() }, { name: ref }] } : { name: ref },
    include: { site: { select: { name: true } } },
  });
  if (!n) {
    const names = await ctx.prisma.storageNode.findMany({ select: { name: true }, orderBy: { name: "asc" } });
    throw new AppError(
      "NOT_FOUND",
      `no storage node named ${ref} (known: ${names.map((x) => x.name).join(", ") || "none"})`,
    );
  }
  return n;
}

/**
 * How far a node is from being able to leave: its replica rows, and how many of the
 * chunks it stores still need its copy (other live copies fewer than the strictest policy
 * of the files sharing the chunk), of which how many have no other live copy at all.
 */
export async function nodeDrainStatus(ctx: ControlContext, input: unknown, now = new Date()): Promise<NodeDrainStatus> {
  const { node: ref } = ZNodeRef.parse(input);
  const n = await findNode(ctx, ref);
  const cutoff = new Date(now.getTime() - ctx.config.nodeTimeoutMs);
  const replicas = await ctx.prisma.chunkReplica.count({ where: { nodeId: n.id } });
  let needed = 0;
  let soleCopies = 0;
  let referenced = 0;
  let after = "";
  for (;;) {
    const rows = await ctx.prisma.$queryRaw<{ chunkId: string; others: number }[]>`
      SELECT r."chunkId",
        (SELECT count(*)::int FROM "ChunkReplica" o JOIN "StorageNode" m ON m.id = o."nodeId"
          WHERE o."chunkId" = r."chunkId" AND o."nodeId" <> r."nodeId" AND o.state = 'stored' AND o.epoch = m.epoch
            AND m.status IN ('active', 'draining') AND m."lastHeartbeatAt" >= ${cutoff}) AS others
      FROM "ChunkReplica" r
      WHERE r."nodeId" = ${n.id}::uuid AND r.state = 'stored' AND r."chunkId" > ${after}
      ORDER BY r."chunkId" LIMIT ${BATCH}`;
    if (rows.length === 0) break;
    after = rows[rows.length - 1]!.chunkId;
    const targets = await chunkTargets(
      ctx,
      rows.map((r) => r.chunkId),
    );
    for (const r of rows) {
      const target = targets.get(r.chunkId);
      if (!target) continue; // garbage: nobody needs it
      referenced++;
      if (r.others < target.replicas) {
        needed++;
        if (r.others === 0) soleCopies++;
      }
    }
    if (rows.length < BATCH) break;
  }
  return {
    id: n.id,
    name: n.name,
    site: n.site.name,
    status: n.status,
    replicas,
    needed,
    soleCopies,
    // No copy of anything a file references is left (garbage goes after its grace period).
    drained: referenced === 0,
  };
}

export async function listNodeStatuses(ctx: ControlContext, user: AuthUser): Promise<{ nodes: NodeDrainStatus[] }> {
  requireAdmin(user);
  const nodes = await ctx.prisma.storageNode.findMany({ select: { id: true }, orderBy: { name: "asc" } });
  const out: NodeDrainStatus[] = [];
  for (const n of nodes) out.push(await nodeDrainStatus(ctx, { node: n.id }));
  return { nodes: out };
}

export async function getNodeStatus(ctx: ControlContext, user: AuthUser, input: unknown): Promise<NodeDrainStatus> {
  requireAdmin(user);
  return nodeDrainStatus(ctx, input);
}

/** Starts draining (from active or down); draining again is a no-op. */
export async function drainNode(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  meta: { ip?: string | null } = {},
): Promise<NodeDrainStatus> {
  requireAdmin(user);
  const { node: ref } = ZNodeRef.parse(input);
  const n = await findNode(ctx, ref);
  if (n.status === "decommissioned")
    throw new AppError("CONFLICT", `node ${n.name} is decommissioned: nothing to drain`);
  if (n.status !== "draining") {
    const { count } = await ctx.prisma.storageNode.updateMany({
      where: { id: n.id, status: n.status },
      data: { status: "draining" },
    });
    if (count === 0) throw new AppError("CONFLICT", `node ${n.name} changed meanwhile: try again`);
    await audit(ctx, {
      action: "node.drain",
      actor: user.email,
      actorId: user.id,
      target: n.name,
      ip: meta.ip ?? null,
      details: { nodeId: n.id, before: n.status, after: "draining" },
    });
    ctx.log.info(
      { node: n.name, before: n.status, by: user.email },
      "node draining: the reconciler moves its chunks away",
    );
  }
  return nodeDrainStatus(ctx, { node: n.id });
}

/**
 * Decommissions a node whose copies are no longer needed (drained, or dead and repaired
 * around). Its replica rows go: the cluster forgets what it held. Refused (CONFLICT)
 * while any chunk still needs its copy; drain it first and wait.
 */
export async function removeNode(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  meta: { ip?: string | null } = {},
): Promise<NodeDrainStatus> {
  requireAdmin(user);
  const { node: ref } = ZNodeRef.parse(input);
  const n = await findNode(ctx, ref);
  if (n.status === "decommissioned") return nodeDrainStatus(ctx, { node: n.id });
  const status = await nodeDrainStatus(ctx, { node: n.id });
  if (status.needed > 0) {
    const sole = status.soleCopies > 0 ? `, ${status.soleCopies} of them the only copy` : "";
    const hint =
      n.status === "draining"
        ? "it is draining: wait until the reconciler has moved them (cumulus node drain --wait)"
        : `drain it first (cumulus node drain ${n.name}) and wait`;
    throw new AppError(
      "CONFLICT",
      `node ${n.name} still holds ${status.needed} chunk${status.needed === 1 ? "" : "s"} that need its copy${sole}: ${hint}`,
      { needed: status.needed, soleCopies: status.soleCopies },
    );
  }
  await ctx.prisma.$transaction(async (tx) => {
    const { count } = await tx.storageNode.updateMany({
      where: { id: n.id, status: n.status },
      data: { status: "decommissioned" },
    });
    if (count === 0) throw new AppError("CONFLICT", `node ${n.name} changed meanwhile: try again`);
    await tx.chunkReplica.deleteMany({ where: { nodeId: n.id } });
  });
  await audit(ctx, {
    action: "node.decommission",
    actor: user.email,
    actorId: user.id,
    target: n.name,
    ip: meta.ip ?? null,
    details: { nodeId: n.id, before: n.status, after: "decommissioned", replicasForgotten: status.replicas },
  });
  ctx.log.info({ node: n.name, by: user.email }, "node decommissioned");
  return nodeDrainStatus(ctx, { node: n.id });
}
