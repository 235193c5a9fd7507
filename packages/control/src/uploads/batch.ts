import { randomUUID } from "node:crypto";
import { ZodError } from "zod";
import {
  ZBeginUploadBatchRequest,
  ZBeginUploadRequest,
  ZCommitUploadBatchRequest,
  ZCommitUploadRequest,
  type BeginUploadBatchResponse,
  type BeginUploadRequest,
  type BeginUploadResponse,
  type CommitUploadBatchResponse,
  type Entry as ApiEntry,
} from "@cumulus/protocol/api";
import { AppError, type ErrorBody } from "@cumulus/protocol/errors";
import { formatPath, parsePath } from "@cumulus/protocol/paths";
import type { Prisma } from "@cumulus/db/client";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { recordChanges, type ChangeInput } from "../changes/record.ts";
import { lockLiveFolder, makeFolders } from "../fs/mkdir.ts";
import { isUniqueViolation } from "../fs/tree.ts";
import { knownChunks, liveReplicas, writableNodes, type WritableNode } from "../fs/replicas.ts";
import { effectivePolicyOf, type EffectivePolicy } from "../policies/effective.ts";
import { placeMissing, UPLOAD_TTL_MS, writeTokens, validateManifest, type StoredManifest } from "./begin-upload.ts";
import {
  commitUpload,
  contentHashOf,
  durableReplicaRows,
  insertChunks,
  uploadNotFound,
  UUID,
} from "./commit-upload.ts";
import { lockOwner, quotaExceeded, quotaOf, usedBytesOf } from "./quota.ts";
import { loadReceiptNodes, newReceiptCache, receiptIssuers, verifyReceipts } from "./receipts.ts";
import { checkTargets, type BulkTarget } from "./targets.ts";

// Many small files cost the sync agent two control-plane requests each; these take a whole
// run of them in one request, and do the work of the run together: one lookup of the target
// folder, of the named files, of known chunks, replicas, nodes and policies, one capability
// per pipeline for the chunks of all files, one transaction that commits every file that
// may be committed. The per-file semantics are the single-file functions' (ACL, quota,
// names, dedup, baseVersion conflicts, receipts), with the same error codes and messages:
// one bad file gets its own error and the others still go through. Only a failure that is
// not about an item (the database is down, a bug) fails the whole request.

type ItemError = ErrorBody["error"];
type ItemResult<T> = { ok: true; value: T } | { ok: false; error: ItemError };

/** Items handled at once where a batch still goes item by item (download plans, fallbacks). */
export const BATCH_ITEM_CONCURRENCY = 4;

export async function mapInOrder<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const k = next++;
      out[k] = await fn(items[k]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(BATCH_ITEM_CONCURRENCY, items.length) }, worker));
  return out;
}

export function itemError(err: unknown): ItemError {
  if (err instanceof AppError) return err.toBody().error;
  if (err instanceof ZodError) {
    const first = err.issues[0];
    const at = first?.path.length ? `${first.path.join(".")}: ` : "";
    return { code: "BAD_REQUEST", message: `invalid request: ${at}${first?.message ?? "malformed"}` };
  }
  throw err;
}

function fail<T>(err: unknown): ItemResult<T> {
  return { ok: false, error: itemError(err) };
}

/** POST /api/v1/uploads/batch — beginUpload for every item; results in item order. */
export async function beginUploadBatch(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  now = new Date(),
  opts: { ip?: string | null } = {},
): Promise<BeginUploadBatchResponse> {
  const req = ZBeginUploadBatchRequest.parse(input);
  const results = new Array<ItemResult<BeginUploadResponse>>(req.uploads.length);
  type Item = { k: number; req: BeginUploadRequest; path: string; sizes: Map<string, number>; target?: BulkTarget };
  let items: Item[] = [];
  req.uploads.forEach((raw, k) => {
    try {
      const r = ZBeginUploadRequest.parse(raw);
      const parts = parsePath(r.path);
      if (parts.length === 0) throw new AppError("BAD_REQUEST", "cannot upload to /: give the file's path");
      items.push({ k, req: r, path: formatPath(parts), sizes: validateManifest(r.size, r.chunks) });
    } catch (err) {
      results[k] = fail(err);
    }
  });

  // Missing parents: one makeFolders per distinct folder, not per file.
  const folders = new Map<string, unknown>();
  for (const it of items) {
    const parent = it.path.slice(0, it.path.lastIndexOf("/"));
    if (!it.req.parents || parent === "" || folders.has(parent)) continue;
    folders.set(
      parent,
      await makeFolders(ctx, user, parent, { parents: true, mustCreate: false }).then(
        () => null,
        (err: unknown) => (err instanceof AppError ? err : Promise.reject(err)),
      ),
    );
  }
  items = items.filter((it) => {
    const err = it.req.parents ? folders.get(it.path.slice(0, it.path.lastIndexOf("/"))) : null;
    if (err) results[it.k] = fail(err);
    return !err;
  });

  const targets = await checkTargets(
    ctx.prisma,
    user,
    items.map((it) => ({ path: it.path, baseVersion: it.req.baseVersion })),
  );
  items = items.filter((it, i) => {
    const t = targets[i]!;
    if (t instanceof AppError) results[it.k] = fail(t);
    else it.target = t;
    return !(t instanceof AppError);
  });

  // Quota: refused here so the client sends no bytes; each file is checked on its own
  // against the owner's usage now, as a single begin is (commit checks again, in order).
  const usage = new Map<string, { quota: number | null; used: number }>();
  for (const it of items) {
    const id = it.target!.owner.id;
    if (usage.has(id) || it.req.size - it.target!.currentSize <= 0) continue;
    const quota = await quotaOf(ctx.prisma, id);
    usage.set(id, { quota, used: quota === null ? 0 : await usedBytesOf(ctx.prisma, id) });
  }
  items = items.filter((it) => {
    const t = it.target!;
    const growth = it.req.size - t.currentSize;
    const u = usage.get(t.owner.id);
    if (growth <= 0 || !u || u.quota === null || u.used + growth <= u.quota) return true;
    results[it.k] = fail(quotaExceeded(t.owner, it.path, growth, u.quota, u.used));
    return false;
  });

  const policies = new Map<string, Promise<EffectivePolicy>>();
  const policyOf = (id: string) => {
    let p = policies.get(id);
    if (!p) policies.set(id, (p = effectivePolicyOf(ctx.prisma, ctx.config, id)));
    return p;
  };
  // A file without a policy row of its own has its folder's effective policy (same
  // replicas, sites and source): one lookup per folder, and one per file that has a row.
  const fileIds = items.flatMap((it) => (it.target!.entryId ? [it.target!.entryId] : []));
  const own = new Set(
    fileIds.length
      ? (
          await ctx.prisma.replicationPolicy.findMany({
            where: { entryId: { in: fileIds } },
            select: { entryId: true },
          })
        ).map((r) => r.entryId)
      : [],
  );
  const effs = await Promise.all(
    items.map((it) => {
      const t = it.target!;
      return policyOf(t.entryId && own.has(t.entryId) ? t.entryId : t.parentId);
    }),
  );

  const allIds = [...new Set(items.flatMap((it) => [...it.sizes.keys()]))];
  const known = new Map((await knownChunks(ctx.prisma, allIds)).map((c) => [c.id, c.size] as const));
  const live = await liveReplicas(ctx.prisma, ctx.config, allIds, now);
  const nodes = await writableNodes(ctx.prisma, ctx.config, now);

  type Planned = {
    item: Item;
    missing: { id: string; group: string; pipeline: WritableNode[] }[];
    manifest: StoredManifest;
  };
  const planned: Planned[] = [];
  for (const [i, it] of items.entries()) {
    try {
      const eff = effs[i]!;
      for (const [id, size] of it.sizes) {
        const k = known.get(id);
        if (k !== undefined && k !== size) {
          throw new AppError(
            "BAD_REQUEST",
            `chunk ${id} is stored with size ${k}, the manifest says ${size}: the manifest is wrong`,
          );
        }
      }
      const missing = await placeMissing(ctx, eff, it.sizes, live, nodes);
      planned.push({
        item: it,
        missing,
        manifest: {
          chunks: it.req.chunks.map((c) => ({ id: c.id, size: c.size })),
          replicas: eff.policy.replicas,
          baseVersion: it.req.baseVersion,
          deviceName: it.req.deviceName ?? null,
        },
      });
    } catch (err) {
      results[it.k] = fail(err);
    }
  }

  // All Upload rows in one insert, with ids chosen here (RETURNING order is not promised).
  const expiresAt = new Date(now.getTime() + UPLOAD_TTL_MS);
  const rows = planned.map(() => ({ id: randomUUID(), expiresAt }));
  // unnest() in raw SQL: Prisma's createMany costs CPU per row and column here.
  if (planned.length)
    await ctx.prisma.$executeRaw`
      INSERT INTO "Upload" (id, "userId", path, "baseVersionId", size, manifest, "expiresAt")
      SELECT t.id::uuid, ${user.id}::uuid, t.p, t.b::uuid, t.s, t.m,
             ${expiresAt.toISOString()}::timestamptz AT TIME ZONE 'UTC'
      FROM unnest(${rows.map((r) => r.id)}::text[], ${planned.map((p) => p.item.path)}::text[],
                  ${planned.map((p) => p.item.target!.currentVersionId)}::text[],
                  ${planned.map((p) => String(p.item.req.size))}::bigint[],
                  ${planned.map((p) => JSON.stringify(p.manifest))}::jsonb[]) AS t(id, p, b, s, m)`;

  // One write capability per pipeline for the chunks of every file of the batch, not one per file.
  const tokenOf = await writeTokens(
    ctx,
    user,
    planned.flatMap((p) => p.missing),
    now,
    opts.ip ?? null,
  );
  planned.forEach((p, i) => {
    const row = rows[i]!;
    results[p.item.k] = {
      ok: true,
      value: {
        uploadId: row.id,
        expiresAt: row.expiresAt.toISOString(),
        missing: p.missing.map((m) => ({
          id: m.id,
          size: p.item.sizes.get(m.id)!,
          ...tokenOf.get(`${m.group}|${m.id}`)!,
        })),
      },
    };
  });
  ctx.log.debug({ items: req.uploads.length, planned: planned.length, missing: tokenOf.size }, "upload batch planned");
  return { results };
}

type CommitValue = { entry: ApiEntry; version: number };
type Ready = {
  k: number;
  uploadId: string;
  path: string;
  size: bigint;
  baseVersionId: string | null;
  manifest: StoredManifest;
  replicaRows: Map<string, { chunkId: string; nodeId: string; epoch: number }>;
};

/** POST /api/v1/uploads/batch/commit — commitUpload for every item; results in item order. */
export async function commitUploadBatch(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  meta: { ip?: string | null; now?: Date } = {},
): Promise<CommitUploadBatchResponse> {
  const req = ZCommitUploadBatchRequest.parse(input);
  const now = meta.now ?? new Date();
  const results = new Array<ItemResult<CommitValue>>(req.commits.length);

  // Outside the transaction, as commitUpload does: the uploads, their receipts (one lookup
  // of the nodes for all), and the replicas the cluster already has (one query for all).
  const ids = [...new Set(req.commits.map((c) => c.uploadId).filter((id) => UUID.test(id)))];
  const uploads = new Map(
    (ids.length ? await ctx.prisma.upload.findMany({ where: { id: { in: ids } } }) : []).map((u) => [u.id, u] as const),
  );
  const cache = newReceiptCache();
  await loadReceiptNodes(
    ctx.prisma,
    req.commits.flatMap((c) =>
      typeof c.receipts === "object" && c.receipts !== null
        ? receiptIssuers(c.receipts as Record<string, string[]>, cache)
        : [],
    ),
    cache,
  );
  const live = await liveReplicas(
    ctx.prisma,
    ctx.config,
    [...uploads.values()].flatMap((u) => (u.manifest as unknown as StoredManifest).chunks.map((c) => c.id)),
    now,
  );
  const ready: Ready[] = [];
  for (const [k, item] of req.commits.entries()) {
    try {
      const upload = UUID.test(item.uploadId) ? uploads.get(item.uploadId.toLowerCase()) : undefined;
      if (!upload || upload.userId !== user.id || upload.expiresAt <= now) throw uploadNotFound(item.uploadId);
      const body = ZCommitUploadRequest.parse({ receipts: item.receipts });
      const manifest = upload.manifest as unknown as StoredManifest;
      const sizes = new Map(manifest.chunks.map((c) => [c.id, c.size] as const));
      const receipts = await verifyReceipts(ctx.prisma, body.receipts, sizes, cache);
      ready.push({
        k,
        uploadId: upload.id,
        path: upload.path,
        size: upload.size,
        baseVersionId: upload.baseVersionId,
        manifest,
        replicaRows: durableReplicaRows(manifest, receipts, live),
      });
    } catch (err) {
      results[k] = fail(err);
    }
  }

  // Two items on one upload or one path decide each other's outcome (the second finds the
  // upload gone, or the file the first created): those batches go one by one, in order.
  const paths = new Set(ready.map((r) => r.path));
  const uploadIds = new Set(ready.map((r) => r.uploadId));
  let bulk = paths.size === ready.length && uploadIds.size === ready.length;
  if (bulk && ready.length > 0) {
    try {
      const out = await ctx.prisma.$transaction((tx) => commitTogether(tx, user, ready, meta.ip ?? null), {
        timeout: 120_000,
        maxWait: 10_000,
      });
      for (const [k, r] of out) results[k] = r;
    } catch (err) {
      // A racing commit created one of the names first (the unique live-name index decided
      // and the transaction is void): go one by one, where that file alone gets its CONFLICT.
      if (!isUniqueViolation(err)) throw err;
      bulk = false;
    }
  }
  if (!bulk) {
    for (const r of ready) {
      const item = req.commits[r.k]!;
      try {
        results[r.k] = {
          ok: true,
          value: await commitUpload(ctx, user, item.uploadId, { receipts: item.receipts }, meta),
        };
      } catch (err) {
        results[r.k] = fail(err);
      }
    }
  }
  return { results };
}

/**
 * commitUpload's transaction for many uploads at once, each statement covering every file.
 * Per-file refusals (upload gone, CONFLICT, QUOTA_EXCEEDED) are decided with reads only and
 * returned, so the files that pass still commit together; nothing here throws for one file.
 */
async function commitTogether(
  tx: Prisma.TransactionClient,
  user: AuthUser,
  ready: readonly Ready[],
  ip: string | null,
): Promise<Map<number, ItemResult<CommitValue>>> {
  const out = new Map<number, ItemResult<CommitValue>>();
  // Locking the upload rows serialises two commits of the same upload: the second waits,
  // then finds it deleted. Only the uploads that commit are deleted, at the end.
  const present = new Set(
    (
      await tx.$queryRaw<{ id: string }[]>`
        SELECT id::text AS id FROM "Upload" WHERE id = ANY(${ready.map((r) => r.uploadId)}::uuid[]) ORDER BY id FOR UPDATE`
    ).map((r) => r.id),
  );
  let items = ready.filter((r) => {
    if (!present.has(r.uploadId)) out.set(r.k, fail(uploadNotFound(r.uploadId)));
    return present.has(r.uploadId);
  });

  const targets = await checkTargets(
    tx,
    user,
    items.map((r) => ({ path: r.path, baseVersion: r.manifest.baseVersion })),
  );
  const targetOf = new Map<number, BulkTarget>();
  items = items.filter((r, i) => {
    const t = targets[i]!;
    if (t instanceof AppError) out.set(r.k, fail(t));
    else targetOf.set(r.k, t);
    return !(t instanceof AppError);
  });

  // Locks, in the order commitUpload takes them: the owners' rows (quota), then the files
  // being replaced, then the folders receiving new files. Ids sorted: no deadlocks between batches.
  const ownerIds = [...new Set(items.map((r) => targetOf.get(r.k)!.owner.id))].sort();
  for (const id of ownerIds) await lockOwner(tx, id);
  const replaced = items.filter((r) => targetOf.get(r.k)!.entryId !== null);
  const lockedRows = replaced.length
    ? await tx.$queryRaw<{ id: string; currentVersionId: string | null }[]>`
        SELECT id::text AS id, "currentVersionId"::text AS "currentVersionId" FROM "Entry"
         WHERE id = ANY(${replaced.map((r) => targetOf.get(r.k)!.entryId!)}::uuid[]) AND "liveName" IS NOT NULL
         ORDER BY id FOR UPDATE`
    : [];
  const locked = new Map(lockedRows.map((r) => [r.id, r.currentVersionId] as const));
  const lockError = new Map<number, AppError>();
  const stale = new Set<string>();
  for (const r of replaced) {
    const entryId = targetOf.get(r.k)!.entryId!;
    if (!locked.has(entryId))
      lockError.set(r.k, new AppError("CONFLICT", `${r.path} was moved or deleted meanwhile: upload it again`));
    else if (locked.get(entryId) !== r.baseVersionId && locked.get(entryId)) stale.add(locked.get(entryId)!);
  }
  const numbers = new Map(
    (stale.size
      ? await tx.fileVersion.findMany({ where: { id: { in: [...stale] } }, select: { id: true, number: true } })
      : []
    ).map((v) => [v.id, v.number] as const),
  );
  for (const r of replaced) {
    const entryId = targetOf.get(r.k)!.entryId!;
    const current = locked.get(entryId);
    if (!locked.has(entryId) || current === r.baseVersionId) continue;
    const n = current ? (numbers.get(current) ?? null) : null;
    lockError.set(
      r.k,
      new AppError(
        "CONFLICT",
        `${r.path} changed since version ${r.manifest.baseVersion} (now ${n ?? "none"}): fetch the new version and merge first`,
        { currentVersion: n },
      ),
    );
  }
  const folderPaths = new Map<string, string>();
  for (const r of items) {
    const t = targetOf.get(r.k)!;
    if (t.entryId === null) folderPaths.set(t.parentId, r.path.slice(0, r.path.lastIndexOf("/")) || "/");
  }
  const folderError = new Map<string, AppError>();
  for (const [id, path] of [...folderPaths].sort(([a], [b]) => (a < b ? -1 : 1))) {
    try {
      await lockLiveFolder(tx, id, path);
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      folderError.set(id, err);
    }
  }

  // Quota in item order, as one commit after another would see it: each file that commits
  // adds its growth to its owner's usage before the next is checked.
  const usage = new Map<string, { quota: number | null; used: number }>();
  for (const id of ownerIds) {
    const quota = await quotaOf(tx, id);
    usage.set(id, { quota, used: quota === null ? 0 : await usedBytesOf(tx, id) });
  }
  items = items.filter((r) => {
    const t = targetOf.get(r.k)!;
    const growth = Number(r.size) - t.currentSize;
    const u = usage.get(t.owner.id)!;
    if (growth > 0 && u.quota !== null && u.used + growth > u.quota) {
      out.set(r.k, fail(quotaExceeded(t.owner, r.path, growth, u.quota, u.used)));
      return false;
    }
    const err = lockError.get(r.k) ?? (t.entryId === null ? folderError.get(t.parentId) : undefined);
    if (err) {
      out.set(r.k, fail(err));
      return false;
    }
    u.used += growth;
    return true;
  });
  if (items.length === 0) return out;

  // New files: one insert (a name taken meanwhile fails it as a unique violation: the
  // caller then goes one by one). Here and below, unnest() inserts in raw SQL: Prisma's
  // createMany costs the control plane CPU per row and per column, and this is its
  // hottest path for small files.
  const fresh = items.filter((r) => targetOf.get(r.k)!.entryId === null);
  const nameOf = (r: Ready) => r.path.slice(r.path.lastIndexOf("/") + 1);
  const created = fresh.map(() => ({ id: randomUUID() }));
  if (fresh.length)
    await tx.$executeRaw`
      INSERT INTO "Entry" (id, "parentId", name, "liveName", type, "ownerId", "updatedAt")
      SELECT t.id::uuid, t.p::uuid, t.n, t.n, 'file', ${user.id}::uuid, now()
      FROM unnest(${created.map((c) => c.id)}::text[], ${fresh.map((r) => targetOf.get(r.k)!.parentId)}::text[],
                  ${fresh.map(nameOf)}::text[]) AS t(id, p, n)`;
  const entryOf = new Map<number, string>();
  fresh.forEach((r, i) => entryOf.set(r.k, created[i]!.id));
  for (const r of items) if (!entryOf.has(r.k)) entryOf.set(r.k, targetOf.get(r.k)!.entryId!);

  const replicaRows = new Map<string, { chunkId: string; nodeId: string; epoch: number }>();
  for (const r of items) for (const [key, row] of r.replicaRows) replicaRows.set(key, row);
  await insertChunks(
    tx,
    items.flatMap((r) => r.manifest.chunks),
    replicaRows,
  );

  // Only replaced files have versions already (a file created above has none).
  const olds = items.filter((r) => targetOf.get(r.k)!.entryId !== null).map((r) => entryOf.get(r.k)!);
  const last = olds.length
    ? await tx.$queryRaw<{ entryId: string; n: number }[]>`
        SELECT "entryId"::text AS "entryId", max(number) AS n FROM "FileVersion"
         WHERE "entryId" = ANY(${olds}::uuid[]) GROUP BY "entryId"`
    : [];
  const lastOf = new Map(last.map((l) => [l.entryId, Number(l.n)] as const));
  const numberOf = (r: Ready) => (lastOf.get(entryOf.get(r.k)!) ?? 0) + 1;
  const versions = items.map((r) => ({ id: randomUUID(), entryId: entryOf.get(r.k)! }));
  await tx.$executeRaw`
    INSERT INTO "FileVersion" (id, "entryId", number, size, "chunkCount", "contentHash", "createdById", "deviceName")
    SELECT t.id::uuid, t.e::uuid, t.n, t.s, t.c, t.h, ${user.id}::uuid, t.d
    FROM unnest(${versions.map((v) => v.id)}::text[], ${versions.map((v) => v.entryId)}::text[],
                ${items.map(numberOf)}::int[], ${items.map((r) => String(r.size))}::bigint[],
                ${items.map((r) => r.manifest.chunks.length)}::int[], ${items.map((r) => contentHashOf(r.manifest.chunks))}::text[],
                ${items.map((r) => r.manifest.deviceName)}::text[]) AS t(id, e, n, s, c, h, d)`;
  const versionOf = new Map(versions.map((v) => [v.entryId, v.id] as const));

  // Every file's chunk list in one statement (per 5000 rows).
  const vc: { v: string; idx: number; id: string; off: string; size: number }[] = [];
  for (const r of items) {
    let offset = 0;
    const v = versionOf.get(entryOf.get(r.k)!)!;
    r.manifest.chunks.forEach((c, idx) => {
      vc.push({ v, idx, id: c.id, off: String(offset), size: c.size });
      offset += c.size;
    });
  }
  for (let i = 0; i < vc.length; i += 5000) {
    const b = vc.slice(i, i + 5000);
    await tx.$executeRaw`
      INSERT INTO "VersionChunk" ("versionId", "index", "chunkId", "offset", "size")
      SELECT t.v::uuid, t.idx, t.id, t.off, t.size
      FROM unnest(${b.map((x) => x.v)}::text[], ${b.map((x) => x.idx)}::int[], ${b.map((x) => x.id)}::text[],
                  ${b.map((x) => x.off)}::bigint[], ${b.map((x) => x.size)}::int[]) AS t(v, idx, id, off, size)`;
  }
  const entryIds = items.map((r) => entryOf.get(r.k)!);
  // The update returns what the answers need (the entry row as it now is, its owner's email).
  const updated = await tx.$queryRaw<
    { id: string; parentId: string | null; name: string; size: bigint; updatedAt: Date; owner: string | null }[]
  >`
    UPDATE "Entry" e SET "currentVersionId" = t.v::uuid, size = t.s, "updatedAt" = now()
    FROM unnest(${entryIds}::text[], ${entryIds.map((id) => versionOf.get(id)!)}::text[], ${items.map((r) => String(r.size))}::bigint[]) AS t(id, v, s)
    WHERE e.id = t.id::uuid
    RETURNING e.id::text AS id, e."parentId"::text AS "parentId", e.name, e.size, e."updatedAt",
              (SELECT u.email FROM "User" u WHERE u.id = e."ownerId") AS owner`;
  const entries = new Map(updated.map((e) => [e.id, e] as const));
  await tx.$executeRaw`DELETE FROM "Upload" WHERE id = ANY(${items.map((r) => r.uploadId)}::uuid[])`;
  await tx.$executeRaw`
    INSERT INTO "AuditEvent" ("actorId", actor, action, target, ip, outcome, details)
    SELECT ${user.id}::uuid, ${user.email}, t.a, t.t, ${ip}, 'ok', t.d
    FROM unnest(${items.map((r) => (targetOf.get(r.k)!.entryId === null ? "file.create" : "file.update"))}::text[],
                ${items.map((r) => r.path)}::text[],
                ${items.map((r) => JSON.stringify({ version: numberOf(r), size: Number(r.size), chunks: r.manifest.chunks.length }))}::jsonb[]) AS t(a, t, d)`;
  const changes: ChangeInput[] = items.map((r) => {
    const e = entries.get(entryOf.get(r.k)!)!;
    return {
      kind: targetOf.get(r.k)!.entryId === null ? "create" : "update",
      entryId: e.id,
      parentId: e.parentId,
      name: e.name,
      type: "file",
      versionId: versionOf.get(e.id)!,
      actorId: user.id,
    };
  });
  await recordChanges(tx, changes);
  for (const r of items) {
    const e = entries.get(entryOf.get(r.k)!)!;
    const entry: ApiEntry = {
      id: e.id,
      name: e.name,
      path: r.path,
      type: "file",
      size: Number(e.size),
      modifiedAt: e.updatedAt.toISOString(),
      owner: e.owner,
      version: numberOf(r),
    };
    out.set(r.k, { ok: true, value: { entry, version: numberOf(r) } });
  }
  return out;
}
