import { decodeJwt, importJWK, jwtVerify, type JWK } from "jose";
import { AppError } from "@cumulus/protocol/errors";
import { ZHeartbeatRequest, ZNodeAuthClaims, type HeartbeatResponse } from "@cumulus/protocol/node-api";
import type { ControlContext } from "../context.ts";

const SAMPLE_EVERY_MS = 30_000;

export type AuthenticatedNode = { id: string; name: string; epoch: number; status: string };

/**
 * Authenticates a node by the short JWT it signs with its own key. The epoch inside must
 * be the node's current one: a node that was declared down, or registered again
 * elsewhere, is told STALE_EPOCH and must register afresh.
 */
export async function authenticateNode(ctx: ControlContext, authorization: string | null): Promise<AuthenticatedNode> {
  const token = authorization?.startsWith("Bearer ") ? authorization.slice(7) : null;
  if (!token) throw new AppError("UNAUTHENTICATED", "missing node credentials (Authorization: Bearer <node JWT>)");
  let sub: unknown;
  try {
    sub = decodeJwt(token).sub;
  } catch {
    throw new AppError("UNAUTHENTICATED", "malformed node credentials");
  }
  if (typeof sub !== "string" || !/^[0-9a-f-]{36}$/.test(sub))
    throw new AppError("UNAUTHENTICATED", "malformed node credentials");
  const node = await ctx.prisma.storageNode.findUnique({ where: { id: sub } });
  if (!node) throw new AppError("NOT_FOUND", "unknown node: register again");
  let claims;
  try {
    const key = await importJWK(node.publicKey as JWK, "EdDSA");
    const verified = await jwtVerify(token, key, { audience: "cumulus-control", clockTolerance: 30 });
    claims = ZNodeAuthClaims.parse(verified.payload);
  } catch {
    throw new AppError(
      "UNAUTHENTICATED",
      `node ${node.name}: credentials are not signed by its registered key or have expired`,
    );
  }
  if (claims.epoch !== node.epoch || node.status === "down") {
    throw new AppError(
      "STALE_EPOCH",
      `node ${node.name}: epoch ${claims.epoch} is stale (current ${node.epoch}, status ${node.status}): register again`,
    );
  }
  if (node.status === "decommissioned") throw new AppError("FORBIDDEN", `node ${node.name} is decommissioned`);
  return { id: node.id, name: node.name, epoch: node.epoch, status: node.status };
}

export async function heartbeat(
  ctx: ControlContext,
  authorization: string | null,
  input: unknown,
): Promise<HeartbeatResponse> {
  const node = await authenticateNode(ctx, authorization);
  const req = ZHeartbeatRequest.parse(input);
  const now = new Date();
  // Conditional on the epoch so a heartbeat racing a re-registration cannot revive old state.
  const updated = await ctx.prisma.storageNode.updateMany({
    where: { id: node.id, epoch: node.epoch, status: { in: ["active", "draining"] } },
    data: {
      capacityBytes: BigInt(req.usage.capacityBytes),
      usedBytes: BigInt(req.usage.usedBytes),
      availableBytes: req.usage.availableBytes === undefined ? null : BigInt(req.usage.availableBytes),
      chunkCount: req.usage.chunkCount,
      load: req.load,
      lastHeartbeatAt: now,
    },
  });
  if (updated.count === 0) {
    // Read again: a node removed while this heartbeat was in flight must hear that it is
    // decommissioned. Told to register again instead, it would come straight back as active.
    const current = await ctx.prisma.storageNode.findUnique({ where: { id: node.id }, select: { status: true } });
    if (current?.status === "decommissioned") throw new AppError("FORBIDDEN", `node ${node.name} is decommissioned`);
    throw new AppError("STALE_EPOCH", `node ${node.name}: registration changed meanwhile: register again`);
  }
  const last = await ctx.prisma.nodeSample.findFirst({
    where: { nodeId: node.id },
    orderBy: { at: "desc" },
    select: { at: true },
  });
  if (!last || now.getTime() - last.at.getTime() >= SAMPLE_EVERY_MS) {
    await ctx.prisma.nodeSample.create({
      data: {
        nodeId: node.id,
        usedBytes: BigInt(req.usage.usedBytes),
        capacityBytes: BigInt(req.usage.capacityBytes),
        chunkCount: req.usage.chunkCount,
        cpu: req.load.cpu,
      },
    });
  }
  return {
    status: node.status === "draining" ? "draining" : "active",
    heartbeatIntervalMs: ctx.config.heartbeatIntervalMs,
  };
}
