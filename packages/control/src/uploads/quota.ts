import { AppError } from "@cumulus/protocol/errors";
import type { Prisma, PrismaClient } from "@cumulus/db/client";

type Db = PrismaClient | Prisma.TransactionClient;

/**
 * Quotas count the logical bytes of the live (not trashed) files a user owns — the same
 * number the admin pages and the account page show as "used". Replicas do not count:
 * the replica count is the admins' choice, not the user's.
 */
export async function usedBytesOf(db: Db, ownerId: string): Promise<number> {
  const r = await db.entry.aggregate({
    where: { ownerId, type: "file", trashedAt: null },
    _sum: { size: true },
  });
  return Number(r._sum.size ?? 0n);
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
  const u = await db.user.findUnique({ where: { id: owner.id }, select: { quotaBytes: true } });
  if (!u || u.quotaBytes === null) return;
  const quota = Number(u.quotaBytes);
  const used = await usedBytesOf(db, owner.id);
  if (used + growth <= quota) return;
  const whose = `${owner.email}'s quota`;
  throw new AppError(
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
