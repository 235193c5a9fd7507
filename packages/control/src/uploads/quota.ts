import { AppError } from "@cumulus/protocol/errors";
import type { Prisma, PrismaClient } from "@cumulus/db/client";

type Db = PrismaClient | Prisma.TransactionClient;

/**
 * Quotas count the logical bytes of the live (not trashed) files a user owns — the same
 * number the admin pages and the account page show as "used". Replicas do not count:
 * the replica count is the admins' choice, not the user's.
 */
export async function usedBytesOf(db: Db, ownerId: string): Promise<number> {
  return (await usedBytesByOwner(db, [ownerId])).get(ownerId) ?? 0;
}

/** `usedBytesOf` for many users at once (the admin's user list). */
export async function usedBytesByOwner(db: Db, ownerIds: readonly string[]): Promise<Map<string, number>> {
  const used = new Map<string, number>(ownerIds.map((id) => [id, 0]));
  if (ownerIds.length === 0) return used;
  const rows = await db.entry.groupBy({
    by: ["ownerId"],
    where: { ownerId: { in: [...ownerIds] }, type: "file", trashedAt: null },
    _sum: { size: true },
  });
  for (const r of rows) if (r.ownerId) used.set(r.ownerId, Number(r._sum.size ?? 0n));
  // Only the root of a deleted subtree is marked trashed; its files keep trashedAt null, so
  // they are subtracted here by walking down from every trash root (the trash is small next
  // to the namespace, and the walk stops at nested trash roots, which count on their own).
  const hidden = await db.$queryRaw<{ ownerId: string; bytes: bigint }[]>`
    WITH RECURSIVE hidden(id, type, size, "ownerId") AS (
      SELECT c.id, c.type, c.size, c."ownerId"
        FROM "Entry" c JOIN "Entry" r ON c."parentId" = r.id
       WHERE r."trashedAt" IS NOT NULL AND c."trashedAt" IS NULL
      UNION ALL
      SELECT e.id, e.type, e.size, e."ownerId"
        FROM "Entry" e JOIN hidden h ON e."parentId" = h.id
       WHERE e."trashedAt" IS NULL
    )
    SELECT "ownerId"::text AS "ownerId", SUM(size)::bigint AS bytes FROM hidden
     WHERE type = 'file' AND "ownerId"::text = ANY(${[...ownerIds]}::text[])
     GROUP BY "ownerId"`;
  for (const h of hidden) used.set(h.ownerId, (used.get(h.ownerId) ?? 0) - Number(h.bytes));
  return used;
}

/**
 * Bytes of files in the subtree rooted at `rootId` (the root included), by owner: what
 * restoring that subtree from the trash adds to each owner's usage.
 */
export async function subtreeBytesByOwner(db: Db, rootId: string): Promise<Map<string, number>> {
  const rows = await db.$queryRaw<{ ownerId: string; bytes: bigint }[]>`
    WITH RECURSIVE sub(id, type, size, "ownerId") AS (
      SELECT id, type, size, "ownerId" FROM "Entry" WHERE id = ${rootId}::uuid
      UNION ALL
      SELECT e.id, e.type, e.size, e."ownerId"
        FROM "Entry" e JOIN sub s ON e."parentId" = s.id
       WHERE e."trashedAt" IS NULL
    )
    SELECT "ownerId"::text AS "ownerId", SUM(size)::bigint AS bytes
      FROM sub WHERE type = 'file' AND "ownerId" IS NOT NULL GROUP BY "ownerId"`;
  return new Map(rows.map((r) => [r.ownerId, Number(r.bytes)]));
}

function formatBytes(n: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} bytes` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/**
 * Refuses a write that would put `ownerId` over their quota. `growth` is how much the
 * owner's usage grows (a new file: its size; a new version: new minus old size); a write
 * that does not grow usage always passes, so a user over quota (an admin lowered it) can
 * still replace files with smaller ones. Inside the commit transaction the caller locks
 * the owner's row first, so two concurrent commits cannot both squeeze under the limit.
 */
export async function assertWithinQuota(
  db: Db,
  owner: { id: string; email: string },
  path: string,
  growth: number,
): Promise<void> {
  if (growth <= 0) return;
  const q = await quotaOf(db, owner.id);
  if (q === null) return;
  const used = await usedBytesOf(db, owner.id);
  if (used + growth <= q) return;
  throw quotaExceeded(owner, path, growth, q, used);
}

/** The owner's quota in bytes, or null when they have none. */
export async function quotaOf(db: Db, ownerId: string): Promise<number | null> {
  const u = await db.user.findUnique({ where: { id: ownerId }, select: { quotaBytes: true } });
  return !u || u.quotaBytes === null ? null : Number(u.quotaBytes);
}

/** The QUOTA_EXCEEDED error of assertWithinQuota (batches check many writes against one usage). */
export function quotaExceeded(
  owner: { id: string; email: string },
  path: string,
  growth: number,
  quota: number,
  used: number,
): AppError {
  const whose = `${owner.email}'s quota`;
  return new AppError(
    "QUOTA_EXCEEDED",
    `${path} needs ${formatBytes(growth)} more but ${whose} is ${formatBytes(quota)} with ${formatBytes(used)} used (${formatBytes(Math.max(0, quota - used))} free): delete files (the trash does not count) or ask an admin for a larger quota`,
    { usedBytes: used, quotaBytes: quota, requestedBytes: growth, owner: owner.email },
  );
}

/**
 * Locks the owner's row so that quota checks of concurrent commits run one at a time.
 * FOR NO KEY UPDATE, not FOR UPDATE: it still excludes another commit's lock, but not the
 * key-share locks that inserts referencing the user (sessions, audit, entries) take.
 */
export async function lockOwner(tx: Prisma.TransactionClient, ownerId: string): Promise<void> {
  await tx.$queryRaw`SELECT id::text AS id FROM "User" WHERE id = ${ownerId}::uuid FOR NO KEY UPDATE`;
}
