import type { ControlContext } from "../context.ts";
import { TX_OPTIONS } from "./config.ts";
import { signCapability } from "../capabilities/tokens.ts";
import { inventoryOf } from "./node-client.ts";
import type { ScanNode } from "./state.ts";

/**
 * Reconciles the database with what one node actually holds (GET /inventory), at the
 * node's current epoch E:
 *
 * - replica rows of an older epoch (written before the node registered again) count only
 *   once the inventory lists the chunk: listed → confirmed at E; not listed → the row goes;
 * - a listed chunk the database knows but has no row for here (a copy whose receipt was
 *   lost with a previous leader) is adopted, unless a delete of it here is or was just in
 *   flight (the listing may predate that delete);
 * - a listed chunk the database does not know at all is an orphan (an abandoned upload,
 *   a chunk garbage-collected while the node was away): it is returned for deletion,
 *   unless an upload in progress lists it.
 *
 * A row is one (chunk, node) pair (the primary key), so nothing is ever counted twice.
 * If the node registers again during the listing, nothing is written.
 */
export type InventoryResult = {
  listed: number;
  confirmed: number;
  dropped: number;
  adopted: number;
  orphans: { chunk: string; node: string; mtimeMs: number }[];
  /** The node re-registered meanwhile; run it again. */
  stale: boolean;
};

export async function reconcileInventory(
  ctx: ControlContext,
  node: ScanNode,
  opts: {
    timeoutMs?: number;
    /** True when a delete of (chunk, this node) is queued, running, or finished since `since`. */
    deleteInFlight: (chunk: string, since: number) => boolean;
    protectedIds: ReadonlySet<string>;
  },
): Promise<InventoryResult> {
  const started = Date.now();
  const { token } = await signCapability(ctx, { op: "inventory", aud: [node.id], chunks: [], sub: "system" });
  const listed = new Map<string, { size: number; mtimeMs: number }>();
  for await (const page of inventoryOf(node.url, token, { timeoutMs: opts.timeoutMs ?? 30_000 })) {
    for (const c of page) listed.set(c.id, { size: c.size, mtimeMs: c.mtimeMs ?? 0 });
  }
  const result: InventoryResult = {
    listed: listed.size,
    confirmed: 0,
    dropped: 0,
    adopted: 0,
    orphans: [],
    stale: false,
  };

  const now = await ctx.prisma.storageNode.findUnique({ where: { id: node.id }, select: { epoch: true } });
  if (!now || now.epoch !== node.epoch) return { ...result, stale: true };
  const E = node.epoch;

  const rows = await ctx.prisma.$queryRaw<{ chunkId: string; epoch: number; size: number }[]>`
    SELECT r."chunkId", r.epoch, c.size FROM "ChunkReplica" r JOIN "Chunk" c ON c.id = r."chunkId"
    WHERE r."nodeId" = ${node.id}::uuid`;
  const rowOf = new Map(rows.map((r) => [r.chunkId, r] as const));
  const confirm: string[] = [];
  const drop: string[] = [];
  for (const r of rows) {
    if (r.epoch >= E) continue;
    const l = listed.get(r.chunkId);
    if (l && l.size === r.size) confirm.push(r.chunkId);
    else drop.push(r.chunkId);
  }
  const unknownListed = [...listed.keys()].filter((id) => !rowOf.has(id));
  const known =
    unknownListed.length === 0
      ? []
      : await ctx.prisma.$queryRaw<{ id: string; size: number }[]>`
          SELECT id, size FROM "Chunk" WHERE id = ANY(${unknownListed}::text[])`;
  const knownSize = new Map(known.map((k) => [k.id, k.size] as const));
  const adopt: string[] = [];
  for (const id of unknownListed) {
    const size = knownSize.get(id);
    if (size !== undefined) {
      if (size === listed.get(id)!.size && !opts.deleteInFlight(id, started)) adopt.push(id);
    } else if (!opts.protectedIds.has(id)) {
      result.orphans.push({ chunk: id, node: node.id, mtimeMs: listed.get(id)!.mtimeMs });
    }
  }

  await ctx.prisma.$transaction(async (tx) => {
    // Fenced on the epoch: a registration racing this transaction makes it write nothing.
    const locked = await tx.$queryRaw<{ epoch: number }[]>`
      SELECT epoch FROM "StorageNode" WHERE id = ${node.id}::uuid FOR SHARE`;
    if (locked[0]?.epoch !== E) {
      result.stale = true;
      return;
    }
    if (confirm.length > 0) {
      result.confirmed = await tx.$executeRaw`
        UPDATE "ChunkReplica" SET epoch = ${E}, "verifiedAt" = CASE WHEN state = 'stored' THEN now() ELSE "verifiedAt" END
        WHERE "nodeId" = ${node.id}::uuid AND epoch < ${E} AND "chunkId" = ANY(${confirm}::text[])`;
    }
    if (drop.length > 0) {
      result.dropped = await tx.$executeRaw`
        DELETE FROM "ChunkReplica" WHERE "nodeId" = ${node.id}::uuid AND epoch < ${E} AND "chunkId" = ANY(${drop}::text[])`;
    }
    if (adopt.length > 0) {
      result.adopted = await tx.$executeRaw`
        INSERT INTO "ChunkReplica" ("chunkId", "nodeId", state, epoch, "createdAt", "verifiedAt")
        SELECT c.id, ${node.id}::uuid, 'stored', ${E}, now(), now() FROM "Chunk" c WHERE c.id = ANY(${adopt}::text[])
        ON CONFLICT ("chunkId", "nodeId") DO NOTHING`;
    }
  }, TX_OPTIONS);
  if (result.stale) return { ...result, orphans: [] };
  if (result.confirmed + result.dropped + result.adopted + result.orphans.length > 0) {
    ctx.log.info(
      {
        node: node.name,
        epoch: E,
        listed: result.listed,
        confirmed: result.confirmed,
        dropped: result.dropped,
        adopted: result.adopted,
        orphans: result.orphans.length,
      },
      "node inventory reconciled",
    );
  }
  return result;
}
