import { mergePolicies, resolveEffectivePolicy } from "@cumulus/placement/policy";
import type { Policy } from "@cumulus/placement/types";
import type { ControlConfig, ControlContext } from "../context.ts";
import type { Db } from "../access/access.ts";
import { toPartial, type PartialPolicy } from "../policies/effective.ts";
import type { PlanChunk, PlanNode, PlanReplica, ReplicaState } from "./plan.ts";
import { isFull } from "../nodes/fullness.ts";

/** What the reconciler reads from the database: the inputs of plan.ts. */

export type ScanNode = PlanNode & {
  url: string;
  udt: string | null;
  /** When a live node turns `down` unless it heartbeats again (ms since the epoch). */
  expiresAt: number;
};

/** Every registered node; `live` = active or draining with a fresh heartbeat. */
export async function loadNodes(db: Db, config: ControlConfig, now = new Date()): Promise<ScanNode[]> {
  const cutoff = new Date(now.getTime() - config.nodeTimeoutMs);
  const rows = await db.storageNode.findMany({
    include: { site: { select: { name: true } } },
    orderBy: { name: "asc" },
  });
  return rows.map((n) => ({
    id: n.id,
    name: n.name,
    site: n.site.name,
    weight: Number(n.capacityBytes),
    status: n.status,
    live: (n.status === "active" || n.status === "draining") && n.lastHeartbeatAt >= cutoff,
    epoch: n.epoch,
    full: isFull(n),
    url: n.dataUrl,
    udt: n.udtAddress,
    expiresAt: n.lastHeartbeatAt.getTime() + config.nodeTimeoutMs,
  }));
}

/** Chunk ids listed by unexpired upload manifests: never garbage while the upload may commit. */
export async function protectedChunks(db: Db, now = new Date()): Promise<Set<string>> {
  const rows = await db.$queryRaw<{ id: string }[]>`
    SELECT DISTINCT c->>'id' AS id
    FROM "Upload" u, jsonb_array_elements(u.manifest->'chunks') AS c
    WHERE u."expiresAt" > ${now}`;
  return new Set(rows.map((r) => r.id));
}

/**
 * Effective policies of many entries at once: the upward walk of effectivePolicyOf for a
 * batch, resolved with the same rules (nearest explicit setting per field, empty lists
 * inherit, then the cluster default). Cached by the caller for a whole scan.
 */
export async function effectivePolicies(
  db: Db,
  config: ControlConfig,
  entryIds: readonly string[],
): Promise<Map<string, Policy>> {
  const out = new Map<string, Policy>();
  if (entryIds.length === 0) return out;
  const rows = await db.$queryRaw<
    {
      start: string;
      depth: number;
      replicas: number | null;
      requiredSites: string[];
      allowedSites: string[];
      pinnedNodes: string[];
    }[]
  >`
    WITH RECURSIVE up(start, id, "parentId", depth) AS (
      SELECT e.id, e.id, e."parentId", 0 FROM "Entry" e WHERE e.id = ANY(${entryIds as string[]}::uuid[])
      UNION ALL
      SELECT up.start, p.id, p."parentId", up.depth + 1 FROM up JOIN "Entry" p ON p.id = up."parentId"
    )
    SELECT up.start::text AS start, up.depth::int AS depth, rp.replicas, rp."requiredSites", rp."allowedSites", rp."pinnedNodes"
    FROM up JOIN "ReplicationPolicy" rp ON rp."entryId" = up.id
    ORDER BY up.start, up.depth`;
  const chains = new Map<string, PartialPolicy[]>();
  for (const r of rows) {
    const chain = chains.get(r.start) ?? [];
    chain.push(
      toPartial({
        replicas: r.replicas,
        requiredSites: r.requiredSites ?? [],
        allowedSites: r.allowedSites ?? [],
        pinnedNodes: r.pinnedNodes ?? [],
      }),
    );
    chains.set(r.start, chain);
  }
  for (const id of entryIds) {
    out.set(id, resolveEffectivePolicy(chains.get(id) ?? [], { replicas: config.defaultReplicas }));
  }
  return out;
}

/**
 * Pages through every chunk in id order with its replicas and the strictest policy of
 * the files referencing it (any retained version, trashed files included). Policies are
 * cached across pages in `policyCache` (entry id → policy) for one scan.
 */
export async function* chunkPages(
  ctx: ControlContext,
  opts: { pageSize: number; protectedIds: ReadonlySet<string>; policyCache: Map<string, Policy> },
): AsyncGenerator<PlanChunk[]> {
  const db = ctx.prisma;
  let after = "";
  for (;;) {
    const page = await db.$queryRaw<{ id: string; size: number }[]>`
      SELECT id, size FROM "Chunk" WHERE id > ${after} ORDER BY id LIMIT ${opts.pageSize}`;
    if (page.length === 0) return;
    after = page[page.length - 1]!.id;
    const ids = page.map((c) => c.id);
    const [refs, replicas] = await Promise.all([
      db.$queryRaw<{ chunkId: string; entryId: string }[]>`
        SELECT DISTINCT vc."chunkId" AS "chunkId", v."entryId"::text AS "entryId"
        FROM "VersionChunk" vc JOIN "FileVersion" v ON v.id = vc."versionId"
        WHERE vc."chunkId" = ANY(${ids}::text[])`,
      db.$queryRaw<{ chunkId: string; nodeId: string; state: ReplicaState; epoch: number }[]>`
        SELECT "chunkId", "nodeId"::text AS "nodeId", state::text AS state, epoch
        FROM "ChunkReplica" WHERE "chunkId" = ANY(${ids}::text[])`,
    ]);
    const unknown = [...new Set(refs.map((r) => r.entryId))].filter((id) => !opts.policyCache.has(id));
    for (const [id, p] of await effectivePolicies(db, ctx.config, unknown)) opts.policyCache.set(id, p);

    const entriesOf = new Map<string, string[]>();
    for (const r of refs) {
      const list = entriesOf.get(r.chunkId);
      if (list) list.push(r.entryId);
      else entriesOf.set(r.chunkId, [r.entryId]);
    }
    const replicasOf = new Map<string, PlanReplica[]>();
    for (const r of replicas) {
      const list = replicasOf.get(r.chunkId);
      const rep = { nodeId: r.nodeId, state: r.state, epoch: r.epoch };
      if (list) list.push(rep);
      else replicasOf.set(r.chunkId, [rep]);
    }
    yield page.map((c) => {
      const entries = entriesOf.get(c.id) ?? [];
      const policies = dedupePolicies(entries.map((e) => opts.policyCache.get(e)!));
      return {
        id: c.id,
        size: c.size,
        policy: policies.length === 0 ? null : policies.length === 1 ? policies[0]! : mergePolicies(policies),
        protected: opts.protectedIds.has(c.id),
        replicas: replicasOf.get(c.id) ?? [],
      };
    });
  }
}

function dedupePolicies(list: readonly Policy[]): Policy[] {
  const seen = new Map<string, Policy>();
  for (const p of list) seen.set(JSON.stringify(p), p);
  return [...seen.values()];
}

/** The strictest policy of the files sharing one chunk (stat shows it as the chunk's target). */
export async function chunkTargets(ctx: ControlContext, chunkIds: readonly string[]): Promise<Map<string, Policy>> {
  const out = new Map<string, Policy>();
  if (chunkIds.length === 0) return out;
  const refs = await ctx.prisma.$queryRaw<{ chunkId: string; entryId: string }[]>`
    SELECT DISTINCT vc."chunkId" AS "chunkId", v."entryId"::text AS "entryId"
    FROM "VersionChunk" vc JOIN "FileVersion" v ON v.id = vc."versionId"
    WHERE vc."chunkId" = ANY(${[...new Set(chunkIds)]}::text[])`;
  const policies = await effectivePolicies(ctx.prisma, ctx.config, [...new Set(refs.map((r) => r.entryId))]);
  const byChunk = new Map<string, Policy[]>();
  for (const r of refs) {
    const list = byChunk.get(r.chunkId) ?? [];
    list.push(policies.get(r.entryId)!);
    byChunk.set(r.chunkId, list);
  }
  for (const [id, list] of byChunk) {
    const d = dedupePolicies(list);
    out.set(id, d.length === 1 ? d[0]! : mergePolicies(d));
  }
  return out;
}
