import type { ControlConfig } from "../context.ts";
import type { Db } from "../access/access.ts";
import { isFull } from "../nodes/fullness.ts";

export type LiveReplica = {
  chunkId: string;
  nodeId: string;
  node: string;
  site: string;
  url: string;
  /** host:port of the node's UDT listener, or null. */
  udt: string | null;
};

const QUERY_BATCH = 10_000;

/**
 * Replicas that count: state `stored` on a node that is active or draining AND has sent
 * a heartbeat within the timeout (the failure detector may not have marked a silent node
 * down yet; its replicas must not be counted or handed out in the meantime), confirmed at
 * the node's current epoch: a node that registered again (restart, return after being
 * down) counts only what the reconciler's inventory of it has confirmed since.
 */
export async function liveReplicas(
  db: Db,
  config: ControlConfig,
  chunkIds: readonly string[],
  now = new Date(),
): Promise<Map<string, LiveReplica[]>> {
  const out = new Map<string, LiveReplica[]>();
  const unique = [...new Set(chunkIds)];
  const cutoff = new Date(now.getTime() - config.nodeTimeoutMs);
  for (let i = 0; i < unique.length; i += QUERY_BATCH) {
    const batch = unique.slice(i, i + QUERY_BATCH);
    const rows = await db.$queryRaw<LiveReplica[]>`
      SELECT r."chunkId" AS "chunkId", n.id::text AS "nodeId", n.name AS node, s.name AS site, n."dataUrl" AS url, n."udtAddress" AS udt
      FROM "ChunkReplica" r
      JOIN "StorageNode" n ON n.id = r."nodeId"
      JOIN "Site" s ON s.id = n."siteId"
      WHERE r."chunkId" = ANY(${batch}::text[])
        AND r.state = 'stored'
        AND r.epoch = n.epoch
        AND n.status IN ('active', 'draining')
        AND n."lastHeartbeatAt" >= ${cutoff}
      ORDER BY n.name`;
    for (const r of rows) {
      const list = out.get(r.chunkId);
      if (list) list.push(r);
      else out.set(r.chunkId, [r]);
    }
  }
  return out;
}

/** Structurally a placement node (id, name, site, weight, status), plus where to reach it. */
export type WritableNode = {
  id: string;
  name: string;
  site: string;
  weight: number;
  status: "active" | "draining" | "down" | "decommissioned";
  url: string;
  /** host:port of the node's UDT listener, or null. */
  udt: string | null;
  /** Too little free space for new replicas (nodes/fullness.ts): placement skips it. */
  full: boolean;
};

/** Nodes that may receive new replicas: active (not draining) with a fresh heartbeat; `full` ones not now. */
export async function writableNodes(db: Db, config: ControlConfig, now = new Date()): Promise<WritableNode[]> {
  const cutoff = new Date(now.getTime() - config.nodeTimeoutMs);
  const nodes = await db.storageNode.findMany({
    where: { status: "active", lastHeartbeatAt: { gte: cutoff } },
    include: { site: { select: { name: true } } },
    orderBy: { name: "asc" },
  });
  return nodes.map((n) => ({
    id: n.id,
    name: n.name,
    site: n.site.name,
    weight: Number(n.capacityBytes),
    status: n.status,
    url: n.dataUrl,
    udt: n.udtAddress,
    full: isFull(n),
  }));
}

/** Chunk rows that exist among `ids` (batched: a manifest may list a million chunks). */
export async function knownChunks(db: Db, ids: readonly string[]): Promise<{ id: string; size: number }[]> {
  const out: { id: string; size: number }[] = [];
  for (let i = 0; i < ids.length; i += QUERY_BATCH) {
    const batch = ids.slice(i, i + QUERY_BATCH);
    out.push(
      ...(await db.$queryRaw<
        { id: string; size: number }[]
      >`SELECT id, size FROM "Chunk" WHERE id = ANY(${batch}::text[])`),
    );
  }
  return out;
}

export type ReplicaInfo = {
  chunkId: string;
  nodeId: string;
  node: string;
  site: string;
  state: "stored" | "corrupt" | "deleting";
};

/** Every replica of `chunkIds` on nodes that are not decommissioned, whatever its state. */
export async function allReplicas(db: Db, chunkIds: readonly string[]): Promise<Map<string, ReplicaInfo[]>> {
  const out = new Map<string, ReplicaInfo[]>();
  const unique = [...new Set(chunkIds)];
  for (let i = 0; i < unique.length; i += QUERY_BATCH) {
    const batch = unique.slice(i, i + QUERY_BATCH);
    const rows = await db.$queryRaw<ReplicaInfo[]>`
      SELECT r."chunkId" AS "chunkId", n.id::text AS "nodeId", n.name AS node, s.name AS site, r.state::text AS state
      FROM "ChunkReplica" r
      JOIN "StorageNode" n ON n.id = r."nodeId"
      JOIN "Site" s ON s.id = n."siteId"
      WHERE r."chunkId" = ANY(${batch}::text[]) AND n.status <> 'decommissioned'
      ORDER BY n.name`;
    for (const r of rows) {
      const list = out.get(r.chunkId);
      if (list) list.push(r);
      else out.set(r.chunkId, [r]);
    }
  }
  return out;
}
