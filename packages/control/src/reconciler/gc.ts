import type { ControlContext } from "../context.ts";

/**
 * Garbage collection of chunks no retained version or trashed file references (versions
 * purged, uploads abandoned). A chunk must stay garbage for the whole grace period, as
 * seen by this leader (a new leader starts the clock again: conservative), before its
 * replicas are marked `deleting` — in one statement that checks again that no version
 * references it and no unexpired upload lists it. The reconciler's delete jobs then
 * remove the copies; the chunk row goes when no replica is left.
 */
export class GarbageTracker {
  private readonly firstSeen = new Map<string, number>();

  /** Records this scan's garbage; returns the chunks whose grace period is over. */
  observe(garbage: Iterable<string>, graceMs: number, now = Date.now()): string[] {
    const current = new Set(garbage);
    for (const id of this.firstSeen.keys()) if (!current.has(id)) this.firstSeen.delete(id);
    const due: string[] = [];
    for (const id of current) {
      const t = this.firstSeen.get(id);
      if (t === undefined) this.firstSeen.set(id, now);
      else if (now - t >= graceMs) due.push(id);
    }
    return due;
  }

  get tracked(): number {
    return this.firstSeen.size;
  }
}

/** Same idea for files on nodes that the database does not know at all. */
export class OrphanTracker {
  private readonly firstSeen = new Map<string, number>();

  observe(
    node: string,
    orphans: readonly { chunk: string; node: string; mtimeMs: number }[],
    graceMs: number,
    now = Date.now(),
  ): { chunk: string; node: string; mtimeMs: number }[] {
    const prefix = `${node}:`;
    const current = new Set(orphans.map((o) => `${prefix}${o.chunk}`));
    for (const k of this.firstSeen.keys()) if (k.startsWith(prefix) && !current.has(k)) this.firstSeen.delete(k);
    const due: { chunk: string; node: string; mtimeMs: number }[] = [];
    for (const o of orphans) {
      const k = `${prefix}${o.chunk}`;
      const t = this.firstSeen.get(k);
      if (t === undefined) this.firstSeen.set(k, now);
      else if (now - t >= graceMs) due.push(o);
    }
    return due;
  }
}

/** Marks the replicas of due garbage `deleting` and removes chunk rows with no replica left. */
export async function collectGarbage(
  ctx: ControlContext,
  due: readonly string[],
): Promise<{ marked: number; chunksDeleted: number; uploadsExpired: number }> {
  let marked = 0;
  let chunksDeleted = 0;
  if (due.length > 0) {
    const ids = [...due];
    marked = await ctx.prisma.$executeRaw`
      UPDATE "ChunkReplica" r SET state = 'deleting', "verifiedAt" = now()
      WHERE r."chunkId" = ANY(${ids}::text[]) AND r.state <> 'deleting'
        AND NOT EXISTS (SELECT 1 FROM "VersionChunk" vc WHERE vc."chunkId" = r."chunkId")
        AND NOT EXISTS (
          SELECT 1 FROM "Upload" u
          WHERE u."expiresAt" > now() AND u.manifest->'chunks' @> jsonb_build_array(jsonb_build_object('id', r."chunkId")))`;
    try {
      chunksDeleted = await ctx.prisma.$executeRaw`
        DELETE FROM "Chunk" c
        WHERE c.id = ANY(${ids}::text[])
          AND NOT EXISTS (SELECT 1 FROM "ChunkReplica" r WHERE r."chunkId" = c.id)
          AND NOT EXISTS (SELECT 1 FROM "VersionChunk" vc WHERE vc."chunkId" = c.id)
          AND NOT EXISTS (
            SELECT 1 FROM "Upload" u
            WHERE u."expiresAt" > now() AND u.manifest->'chunks' @> jsonb_build_array(jsonb_build_object('id', c.id)))`;
    } catch (err) {
      // A commit referenced one of them meanwhile (the foreign key refused): next scan.
      ctx.log.debug({ err }, "garbage chunk rows not deleted this time");
    }
  }
  const uploadsExpired = await ctx.prisma.$executeRaw`DELETE FROM "Upload" WHERE "expiresAt" < now()`;
  if (marked + chunksDeleted > 0) ctx.log.info({ marked, chunksDeleted }, "garbage collection");
  return { marked, chunksDeleted, uploadsExpired };
}

/**
 * Forgets replica rows on decommissioned nodes. Removing a node deletes its rows, but a
 * copy or an inventory adoption that was in flight when it was removed can still write
 * one afterwards; such a row counts for nothing, yet it would keep its chunk from ever
 * being collected (only live nodes are asked to delete).
 */
export async function forgetDecommissioned(ctx: ControlContext): Promise<number> {
  const n = await ctx.prisma.$executeRaw`
    DELETE FROM "ChunkReplica" r USING "StorageNode" n
    WHERE n.id = r."nodeId" AND n.status = 'decommissioned'`;
  if (n > 0) ctx.log.info({ rows: n }, "forgot replica rows written on removed nodes");
  return n;
}
