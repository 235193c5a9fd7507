import { AppError } from "@cumulus/protocol/errors";
import { ZRegisterNodeRequest, type RegisterNodeRequest, type RegisterNodeResponse } from "@cumulus/protocol/node-api";
import { checkJoinToken } from "../cluster/join-token.ts";
import type { ControlContext } from "../context.ts";
import { getSigningKey } from "../keys/signing-keys.ts";
import { audit } from "../audit/audit.ts";

/**
 * A node joins (or rejoins) the cluster. Every registration starts a new epoch: whatever
 * the node did under an older epoch (heartbeats, receipts) is no longer accepted, which is
 * how a node that was declared down and comes back cannot act on stale state.
 */
export async function registerNode(ctx: ControlContext, input: unknown): Promise<RegisterNodeResponse> {
  const req: RegisterNodeRequest = ZRegisterNodeRequest.parse(input);
  if (!(await checkJoinToken(ctx, req.joinToken))) {
    throw new AppError("FORBIDDEN", `node ${req.name}: the join token is not valid for this cluster`);
  }
  const signingKey = await getSigningKey(ctx);

  const node = await ctx.prisma.$transaction(async (tx) => {
    const site = await tx.site.upsert({ where: { name: req.site }, create: { name: req.site }, update: {} });
    const existing = await tx.storageNode.findUnique({ where: { name: req.name } });
    const now = new Date();
    const usage = {
      capacityBytes: BigInt(req.usage.capacityBytes),
      usedBytes: BigInt(req.usage.usedBytes),
      availableBytes: req.usage.availableBytes === undefined ? null : BigInt(req.usage.availableBytes),
      chunkCount: req.usage.chunkCount,
    };
    if (!existing) {
      return tx.storageNode.create({
        data: {
          name: req.name,
          siteId: site.id,
          dataUrl: req.dataUrl,
          udtAddress: req.udtAddress,
          publicKey: req.publicKey,
          version: req.version,
          status: "active",
          epoch: 1,
          lastHeartbeatAt: now,
          registeredAt: now,
          ...usage,
        },
      });
    }
    const sameKey = (existing.publicKey as { x?: unknown } | null)?.x === req.publicKey.x;
    if (!sameKey && existing.status !== "decommissioned") {
      throw new AppError(
        "ALREADY_EXISTS",
        `a node named ${req.name} is already registered with another identity: remove it first (cumulus node remove ${req.name}) or pick another name`,
      );
    }
    // A node keeps draining across restarts; a down or decommissioned node that comes back is active again.
    const status = existing.status === "draining" ? "draining" : "active";
    return tx.storageNode.update({
      where: { id: existing.id },
      data: {
        siteId: site.id,
        dataUrl: req.dataUrl,
        udtAddress: req.udtAddress,
        publicKey: req.publicKey,
        version: req.version,
        status,
        epoch: { increment: 1 },
        lastHeartbeatAt: now,
        registeredAt: now,
        ...usage,
      },
    });
  });

  await audit(ctx, {
    action: "node.register",
    actor: `node:${node.name}`,
    target: node.name,
    details: { epoch: node.epoch, site: req.site },
  });
  ctx.log.info({ node: node.name, site: req.site, epoch: node.epoch }, "storage node registered");
  return {
    nodeId: node.id,
    epoch: node.epoch,
    status: node.status,
    controlPublicKey: signingKey.publicJwk,
    heartbeatIntervalMs: ctx.config.heartbeatIntervalMs,
  };
}
