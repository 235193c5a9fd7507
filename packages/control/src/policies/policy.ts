import { z } from "zod";
import { AppError } from "@cumulus/protocol/errors";
import { type ZPolicyResponse, ZSetPolicyRequest } from "@cumulus/protocol/api";
import { resolveEffectivePolicy, validatePolicy } from "@cumulus/placement/policy";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { auditInTx } from "../changes/record.ts";
import { resolveEntry, TX_OPTIONS } from "../fs/tree.ts";
import { asPlacementNode, policyWarning } from "./feasibility.ts";
import { isFull } from "../nodes/fullness.ts";
import { describeSource, effectivePolicyOf, toPartial, type ExplicitPolicy, type PartialPolicy } from "./effective.ts";

export type PolicyResponse = z.infer<typeof ZPolicyResponse>;

export const ZPolicyQuery = z.object({ path: z.string().min(1).max(4096) });

/** GET /api/v1/policy — anyone who can read the entry may see what protects it. */
export async function getPolicy(ctx: ControlContext, user: AuthUser, input: unknown): Promise<PolicyResponse> {
  const q = ZPolicyQuery.parse(input);
  const r = await resolveEntry(ctx.prisma, user, q.path, "read");
  return describe(ctx, r.entry.id, r.path);
}

/** The storage nodes a policy may name and be placed on. */
function policyNodes(ctx: ControlContext) {
  return ctx.prisma.storageNode.findMany({
    where: { status: { not: "decommissioned" } },
    include: { site: { select: { name: true } } },
    orderBy: { name: "asc" },
  });
}

async function describe(
  ctx: ControlContext,
  entryId: string,
  path: string,
  nodes?: Awaited<ReturnType<typeof policyNodes>>,
): Promise<PolicyResponse> {
  const eff = await effectivePolicyOf(ctx.prisma, ctx.config, entryId);
  const cutoff = new Date(Date.now() - ctx.config.nodeTimeoutMs);
  nodes ??= await policyNodes(ctx);
  return {
    path,
    explicit: eff.explicit,
    effective: eff.policy,
    inheritedFrom: await describeSource(ctx.prisma, eff),
    warning: policyWarning(
      path,
      eff.policy,
      nodes.map((n) => ({ ...asPlacementNode(n, cutoff), full: isFull(n) })),
    ),
  };
}

/**
 * PUT /api/v1/policy — needs manage permission on the entry (owners, admins, ACL
 * manage). Omitted fields keep their value; the result must be valid both on its own
 * and combined with what it inherits, and may only name existing sites and nodes.
 */
export async function setPolicy(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  meta: { ip?: string | null } = {},
): Promise<PolicyResponse> {
  const req = ZSetPolicyRequest.parse(input);
  const r = await resolveEntry(ctx.prisma, user, req.path, "manage");
  const entryId = r.entry.id;
  const old = await ctx.prisma.replicationPolicy.findUnique({ where: { entryId } });
  const next: ExplicitPolicy = {
    replicas: req.replicas === undefined ? (old?.replicas ?? null) : req.replicas,
    requiredSites: dedupe(req.requiredSites ?? old?.requiredSites ?? []),
    allowedSites: dedupe(req.allowedSites ?? old?.allowedSites ?? []),
    pinnedNodes: dedupe(req.pinnedNodes ?? old?.pinnedNodes ?? []),
  };

  const [sites, nodes] = await Promise.all([
    ctx.prisma.site.findMany({ select: { name: true }, orderBy: { name: "asc" } }),
    policyNodes(ctx),
  ]);
  const siteNames = sites.map((s) => s.name);
  const unknownSites = [...next.requiredSites, ...next.allowedSites].filter((s) => !siteNames.includes(s));
  if (unknownSites.length > 0) {
    throw new AppError(
      "BAD_REQUEST",
      `unknown site${unknownSites.length > 1 ? "s" : ""} ${[...new Set(unknownSites)].join(", ")}: known sites are ${siteNames.join(", ") || "(none yet)"}`,
    );
  }
  const unknownNodes = next.pinnedNodes.filter((n) => !nodes.some((x) => x.name === n || x.id === n));
  if (unknownNodes.length > 0) {
    throw new AppError(
      "BAD_REQUEST",
      `unknown node${unknownNodes.length > 1 ? "s" : ""} ${unknownNodes.join(", ")}: known nodes are ${nodes.map((n) => n.name).join(", ") || "(none yet)"}`,
    );
  }
  const own = validatePolicy(toPartial(next), { partial: true, knownSites: siteNames, nodes });
  if (own.length > 0) throw new AppError("BAD_REQUEST", `invalid policy for ${r.path}: ${own.join("; ")}`);

  // Combined with what the entry inherits (e.g. a required site above and replicas 1 here).
  const inherited = r.entry.parentId ? await inheritedChain(ctx, r.entry.parentId) : [];
  const combined = resolveEffectivePolicy([toPartial(next), ...inherited], { replicas: ctx.config.defaultReplicas });
  const problems = validatePolicy(combined);
  if (problems.length > 0) {
    throw new AppError(
      "BAD_REQUEST",
      `the policy of ${r.path} would be invalid together with what it inherits: ${problems.join("; ")}`,
    );
  }

  const empty =
    next.replicas === null &&
    next.requiredSites.length === 0 &&
    next.allowedSites.length === 0 &&
    next.pinnedNodes.length === 0;
  await ctx.prisma.$transaction(async (tx) => {
    if (empty) {
      await tx.replicationPolicy.deleteMany({ where: { entryId } });
    } else {
      await tx.replicationPolicy.upsert({
        where: { entryId },
        create: { entryId, ...next, updatedById: user.id },
        update: { ...next, updatedById: user.id },
      });
    }
    await auditInTx(tx, {
      action: "policy.set",
      actor: user,
      target: r.path,
      ip: meta.ip ?? null,
      details: {
        before: old
          ? {
              replicas: old.replicas,
              requiredSites: old.requiredSites,
              allowedSites: old.allowedSites,
              pinnedNodes: old.pinnedNodes,
            }
          : null,
        after: empty ? null : next,
      },
    });
  }, TX_OPTIONS);
  ctx.log.info({ path: r.path, policy: next, by: user.email }, "replication policy set");
  return describe(ctx, entryId, r.path, nodes);
}

async function inheritedChain(ctx: ControlContext, parentId: string): Promise<PartialPolicy[]> {
  const eff = await effectivePolicyOf(ctx.prisma, ctx.config, parentId);
  // The parent's effective policy stands in for the whole chain above the entry.
  return [eff.policy];
}

function dedupe(list: readonly string[]): string[] {
  return [...new Set(list)];
}
