import { z } from "zod";
import { createPlacer } from "@cumulus/placement/place";
import type { PlacementNode } from "@cumulus/placement/types";
import type { Policy } from "@cumulus/protocol/api";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { resolveEntry } from "../fs/tree.ts";
import { allReplicas } from "../fs/replicas.ts";
import { effectivePolicyOf } from "../policies/effective.ts";
import { getPolicy, type PolicyResponse } from "../policies/policy.ts";
import { asPlacementNode } from "../policies/feasibility.ts";

/**
 * The policies page's "where are the replicas": for a file, or the files of a folder's
 * subtree (at most MAX_FILES), every chunk's replicas as stored now next to the nodes
 * placement (`placeReplicas` rules, over the nodes as they are now) says should hold it
 * under the file's effective policy: the gap the reconciler closes in the background.
 */

export const MAX_FILES = 200;
export const MAX_CHUNK_ROWS = 100;

export const ZInspectQuery = z.object({ path: z.string().min(1).max(4096) });

export type ChunkStatus = "ok" | "under" | "over" | "misplaced";

export type PlacementInspection = {
  policy: PolicyResponse;
  entry: { path: string; type: "file" | "folder"; size: number; isPublic: boolean };
  filesScanned: number;
  truncated: boolean;
  summary: { chunks: number; ok: number; under: number; over: number; misplaced: number };
  nodes: { id: string; name: string; site: string; status: string; actual: number; intended: number }[];
  chunks: {
    id: string;
    file: string;
    size: number;
    want: number;
    status: ChunkStatus;
    actual: { node: string; site: string; state: string; live: boolean }[];
    intended: { node: string; site: string }[];
    notes: string[];
  }[];
};

export async function inspectPlacement(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  now = new Date(),
): Promise<PlacementInspection> {
  const q = ZInspectQuery.parse(input);
  const policy = await getPolicy(ctx, user, { path: q.path });
  const r = await resolveEntry(ctx.prisma, user, q.path, "read");

  // Files to inspect: the entry itself, or the live files below the folder.
  const files =
    r.entry.type === "file"
      ? [{ id: r.entry.id, path: r.path, currentVersionId: r.entry.currentVersionId }]
      : await ctx.prisma.$queryRaw<{ id: string; path: string; currentVersionId: string | null }[]>`
          WITH RECURSIVE sub(id, path, type, "currentVersionId") AS (
            SELECT e.id, ${r.path === "/" ? "" : r.path}::text || '/' || e.name, e.type, e."currentVersionId"
            FROM "Entry" e WHERE e."parentId" = ${r.entry.id}::uuid AND e."liveName" IS NOT NULL
            UNION ALL
            SELECT c.id, sub.path || '/' || c.name, c.type, c."currentVersionId"
            FROM sub JOIN "Entry" c ON c."parentId" = sub.id
            WHERE sub.type = 'folder' AND c."liveName" IS NOT NULL
          )
          SELECT id::text AS id, path, "currentVersionId"::text AS "currentVersionId"
          FROM sub WHERE type = 'file' ORDER BY path LIMIT ${MAX_FILES + 1}`;
  const truncated = files.length > MAX_FILES;
  const scanned = files.slice(0, MAX_FILES);

  const cutoff = new Date(now.getTime() - ctx.config.nodeTimeoutMs);
  const nodeRows = await ctx.prisma.storageNode.findMany({
    where: { status: { not: "decommissioned" } },
    include: { site: { select: { name: true } } },
    orderBy: { name: "asc" },
  });
  const liveNode = (n: (typeof nodeRows)[number]) =>
    (n.status === "active" || n.status === "draining") && n.lastHeartbeatAt >= cutoff;
  const placementNodes: PlacementNode[] = nodeRows.map((n) => asPlacementNode(n, cutoff));
  const byId = new Map(nodeRows.map((n) => [n.id, n]));

  const versionIds = scanned.map((f) => f.currentVersionId).filter((v): v is string => v !== null);
  const vchunks = await ctx.prisma.versionChunk.findMany({
    where: { versionId: { in: versionIds } },
    orderBy: [{ versionId: "asc" }, { index: "asc" }],
    select: { versionId: true, chunkId: true, size: true },
  });
  const replicas = await allReplicas(
    ctx.prisma,
    vchunks.map((c) => c.chunkId),
  );

  const policies = new Map<string, Policy>();
  const placers = new Map<string, ReturnType<typeof createPlacer>>();
  const actualCount = new Map<string, number>();
  const intendedCount = new Map<string, number>();
  const summary = { chunks: 0, ok: 0, under: 0, over: 0, misplaced: 0 };
  const rows: PlacementInspection["chunks"] = [];
  const seen = new Set<string>();

  for (const f of scanned) {
    if (!f.currentVersionId) continue;
    let pol = policies.get(f.id);
    if (!pol) {
      pol = (await effectivePolicyOf(ctx.prisma, ctx.config, f.id)).policy;
      policies.set(f.id, pol);
    }
    const key = JSON.stringify(pol);
    let place = placers.get(key);
    if (!place) {
      place = createPlacer(placementNodes, pol);
      placers.set(key, place);
    }
    for (const c of vchunks.filter((v) => v.versionId === f.currentVersionId)) {
      if (seen.has(c.chunkId)) continue; // deduplicated content counts once
      seen.add(c.chunkId);
      const placed = place(c.chunkId);
      const intendedIds = new Set(placed.nodes.map((n) => n.id));
      const actual = (replicas.get(c.chunkId) ?? []).map((a) => ({
        ...a,
        live: a.state === "stored" && byId.has(a.nodeId) && liveNode(byId.get(a.nodeId)!),
      }));
      const stored = actual.filter((a) => a.state === "stored");
      const live = actual.filter((a) => a.live).length;
      for (const a of stored) actualCount.set(a.nodeId, (actualCount.get(a.nodeId) ?? 0) + 1);
      for (const id of intendedIds) intendedCount.set(id, (intendedCount.get(id) ?? 0) + 1);
      const missingIntended = [...intendedIds].filter((id) => !stored.some((a) => a.nodeId === id));
      const status: ChunkStatus =
        live < pol.replicas ? "under" : live > pol.replicas ? "over" : missingIntended.length > 0 ? "misplaced" : "ok";
      summary.chunks++;
      summary[status]++;
      if (rows.length < MAX_CHUNK_ROWS) {
        rows.push({
          id: c.chunkId,
          file: f.path,
          size: c.size,
          want: pol.replicas,
          status,
          actual: actual.map((a) => ({ node: a.node, site: a.site, state: a.state, live: a.live })),
          intended: placed.nodes.map((n) => ({ node: n.name, site: n.site })),
          notes: placed.reasons ?? [],
        });
      }
    }
  }

  return {
    policy,
    entry: { path: r.path, type: r.entry.type, size: Number(r.entry.size), isPublic: r.entry.isPublic },
    filesScanned: scanned.length,
    truncated,
    summary,
    nodes: nodeRows.map((n) => ({
      id: n.id,
      name: n.name,
      site: n.site.name,
      status: (n.status === "active" || n.status === "draining") && n.lastHeartbeatAt < cutoff ? "down" : n.status,
      actual: actualCount.get(n.id) ?? 0,
      intended: intendedCount.get(n.id) ?? 0,
    })),
    chunks: rows,
  };
}

/** Sites and nodes the policy form offers. */
export async function placementChoices(ctx: ControlContext) {
  const [sites, nodes] = await Promise.all([
    ctx.prisma.site.findMany({ orderBy: { name: "asc" }, select: { name: true } }),
    ctx.prisma.storageNode.findMany({
      where: { status: { not: "decommissioned" } },
      orderBy: { name: "asc" },
      select: { id: true, name: true, status: true, site: { select: { name: true } } },
    }),
  ]);
  return {
    sites: sites.map((s) => s.name),
    nodes: nodes.map((n) => ({ id: n.id, name: n.name, site: n.site.name, status: n.status })),
    defaultReplicas: ctx.config.defaultReplicas,
  };
}
