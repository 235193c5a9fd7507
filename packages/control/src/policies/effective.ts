import { resolveEffectivePolicy } from "@cumulus/placement/policy";
import type { Policy } from "@cumulus/protocol/api";
import type { ControlConfig } from "../context.ts";
import type { Db } from "../access/access.ts";
import { pathOf } from "../fs/tree.ts";

export type PartialPolicy = Partial<Policy>;

export type ExplicitPolicy = {
  replicas: number | null;
  requiredSites: string[];
  allowedSites: string[];
  pinnedNodes: string[];
};

export type EffectivePolicy = {
  policy: Policy;
  /** Settings on the entry itself, if any. */
  explicit: ExplicitPolicy | null;
  /** Id of the entry the replica count comes from; null for the cluster default. */
  replicasFrom: string | null;
};

/**
 * A stored policy as placement's partial policy. The schema's list columns cannot be
 * NULL, so an empty list is read as "inherit" (not as "explicitly none").
 */
export function toPartial(row: ExplicitPolicy): PartialPolicy {
  const p: PartialPolicy = {};
  if (row.replicas !== null) p.replicas = row.replicas;
  if (row.requiredSites.length > 0) p.requiredSites = row.requiredSites;
  if (row.allowedSites.length > 0) p.allowedSites = row.allowedSites;
  if (row.pinnedNodes.length > 0) p.pinnedNodes = row.pinnedNodes;
  return p;
}

/**
 * The policy that applies to `entryId`: per field, the nearest explicit setting on the
 * entry or an ancestor, else the cluster default. Trashed entries keep their parent, so
 * their chunks keep the policy of where they were.
 */
export async function effectivePolicyOf(db: Db, config: ControlConfig, entryId: string): Promise<EffectivePolicy> {
  const rows = await db.$queryRaw<
    {
      id: string;
      depth: number;
      has: boolean;
      replicas: number | null;
      requiredSites: string[] | null;
      allowedSites: string[] | null;
      pinnedNodes: string[] | null;
    }[]
  >`
    WITH RECURSIVE up(id, "parentId", depth) AS (
      SELECT e.id, e."parentId", 0 FROM "Entry" e WHERE e.id = ${entryId}::uuid
      UNION ALL
      SELECT p.id, p."parentId", up.depth + 1 FROM up JOIN "Entry" p ON p.id = up."parentId"
    )
    SELECT up.id::text AS id, up.depth::int AS depth, (rp."entryId" IS NOT NULL) AS has, rp.replicas,
           rp."requiredSites", rp."allowedSites", rp."pinnedNodes"
    FROM up LEFT JOIN "ReplicationPolicy" rp ON rp."entryId" = up.id
    ORDER BY up.depth`;
  const chain: PartialPolicy[] = [];
  let explicit: ExplicitPolicy | null = null;
  let replicasFrom: string | null = null;
  for (const r of rows) {
    if (!r.has) {
      chain.push({});
      continue;
    }
    const row: ExplicitPolicy = {
      replicas: r.replicas,
      requiredSites: r.requiredSites ?? [],
      allowedSites: r.allowedSites ?? [],
      pinnedNodes: r.pinnedNodes ?? [],
    };
    if (r.depth === 0) explicit = row;
    if (replicasFrom === null && row.replicas !== null) replicasFrom = r.id;
    chain.push(toPartial(row));
  }
  const policy = resolveEffectivePolicy(chain, { replicas: config.defaultReplicas });
  return { policy, explicit, replicasFrom };
}

/** Where the replica count comes from, as the API shows it: a path or "default". */
export async function describeSource(db: Db, eff: EffectivePolicy): Promise<string> {
  return eff.replicasFrom === null ? "default" : pathOf(db, eff.replicasFrom);
}
