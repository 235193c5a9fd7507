import { ZDownloadPlanBatchRequest, type DownloadPlan, type DownloadPlanBatchResponse } from "@cumulus/protocol/api";
import { AppError } from "@cumulus/protocol/errors";
import { formatPath, parsePath } from "@cumulus/protocol/paths";
import type { ControlContext } from "../context.ts";
import { LEVEL, permissionLevels, traversableIds, type AuthUser } from "../access/access.ts";
import { forbidden, lookup, notFound } from "../fs/tree.ts";
import { liveReplicas, type LiveReplica } from "../fs/replicas.ts";
import { itemError, mapInOrder } from "../uploads/batch.ts";
import { nearestFirst, planChunks, planDownload, readTokens } from "./plan-download.ts";

type ItemResult = DownloadPlanBatchResponse["results"][number];

/**
 * POST /api/v1/downloads/batch — planDownload for every file, in one request for a run of
 * small files, with the same access checks, capabilities and errors as one by one but a few
 * queries for the whole run: one walk per distinct folder, one query each for the files, their
 * permissions, versions, chunk lists and live replicas, and read capabilities over the chunks
 * of all files together. A file that cannot be read gets its own error; paths this does not
 * model (a missing folder on the way, a file only reachable through a deeper share) go
 * through planDownload itself. Only a failure not about an item fails the request.
 */
export async function planDownloadBatch(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  opts: { site?: string | null; now?: Date; ip?: string | null } = {},
): Promise<DownloadPlanBatchResponse> {
  const req = ZDownloadPlanBatchRequest.parse(input);
  const now = opts.now ?? new Date();
  const db = ctx.prisma;
  const results = new Array<ItemResult>(req.files.length);
  const slow: number[] = [];

  type Item = { k: number; path: string; name: string; version?: number | undefined };
  const byParent = new Map<string, Item[]>();
  for (const [k, f] of req.files.entries()) {
    let parts: string[];
    try {
      parts = parsePath(f.path);
    } catch (err) {
      results[k] = { ok: false, error: itemError(err) };
      continue;
    }
    if (parts.length === 0) {
      slow.push(k);
      continue;
    }
    const parent = formatPath(parts.slice(0, -1));
    const item = { k, path: formatPath(parts), name: parts[parts.length - 1]!, version: f.version };
    const list = byParent.get(parent);
    if (list) list.push(item);
    else byParent.set(parent, [item]);
  }
  const parents: { id: string; level: number; items: Item[] }[] = [];
  for (const [parentPath, items] of byParent) {
    const l = await lookup(db, user, parentPath);
    if (l.chain.length !== l.parts.length + 1) slow.push(...items.map((i) => i.k));
    else parents.push({ id: l.chain[l.chain.length - 1]!, level: l.levels[l.levels.length - 1]!, items });
  }
  const children = parents.length
    ? await db.entry.findMany({
        where: {
          parentId: { in: parents.map((p) => p.id) },
          liveName: { in: [...new Set(parents.flatMap((p) => p.items.map((i) => i.name)))] },
        },
        select: { id: true, parentId: true, liveName: true, type: true, currentVersionId: true },
      })
    : [];
  const childOf = new Map(children.map((c) => [`${c.parentId}/${c.liveName}`, c] as const));
  const levels = await permissionLevels(
    db,
    user,
    children.map((c) => c.id),
  );
  let traversable: Set<string> | null = null;

  type Found = Item & { entryId: string; currentVersionId: string | null };
  const found: Found[] = [];
  for (const p of parents) {
    for (const it of p.items) {
      const c = childOf.get(`${p.id}/${it.name}`);
      if (!c) {
        // A folder that does not have it: planDownload would say NOT_FOUND, unless the parent
        // is in fact a file (then its message differs): leave that to it.
        slow.push(it.k);
        continue;
      }
      const level = levels.get(c.id)!;
      if (level < LEVEL.read && p.level < LEVEL.read) {
        traversable ??= await traversableIds(db, user);
        if (!traversable.has(c.id)) {
          results[it.k] = { ok: false, error: notFound(it.path).toBody().error };
          continue;
        }
      }
      if (level < LEVEL.read) results[it.k] = { ok: false, error: forbidden(it.path, "read").toBody().error };
      else if (c.type !== "file")
        results[it.k] = {
          ok: false,
          error: new AppError("BAD_REQUEST", `${it.path} is a folder, not a file`).toBody().error,
        };
      else found.push({ ...it, entryId: c.id, currentVersionId: c.currentVersionId });
    }
  }

  // Versions: the current ones by id, given numbers by (entry, number).
  const wanted = found.filter((f) => f.version !== undefined);
  const versions = await db.fileVersion.findMany({
    where: {
      OR: [
        {
          id: {
            in: found.filter((f) => f.version === undefined && f.currentVersionId).map((f) => f.currentVersionId!),
          },
        },
        ...(wanted.length ? [{ OR: wanted.map((f) => ({ entryId: f.entryId, number: f.version! })) }] : []),
      ],
    },
  });
  const versionOf = new Map<number, (typeof versions)[number]>();
  const byId = new Map(versions.map((v) => [v.id, v] as const));
  const byNumber = new Map(versions.map((v) => [`${v.entryId}#${v.number}`, v] as const));
  for (const f of found) {
    const v =
      f.version === undefined
        ? f.currentVersionId
          ? byId.get(f.currentVersionId)
          : undefined
        : byNumber.get(`${f.entryId}#${f.version}`);
    if (v) versionOf.set(f.k, v);
    else slow.push(f.k); // planDownload words the NOT_FOUND (it names the latest version)
  }
  const planned = found.filter((f) => versionOf.has(f.k));
  const rows = planned.length
    ? await db.versionChunk.findMany({
        where: { versionId: { in: [...new Set(planned.map((f) => versionOf.get(f.k)!.id))] } },
        orderBy: [{ versionId: "asc" }, { index: "asc" }],
      })
    : [];
  const chunksOf = new Map<string, typeof rows>();
  for (const r of rows) {
    const list = chunksOf.get(r.versionId);
    if (list) list.push(r);
    else chunksOf.set(r.versionId, [r]);
  }
  const live = await liveReplicas(
    db,
    ctx.config,
    rows.map((r) => r.chunkId),
    now,
  );
  const site = opts.site?.trim() || null;
  const ordered = new Map<string, LiveReplica[]>();
  const readable: Found[] = [];
  for (const f of planned) {
    const version = versionOf.get(f.k)!;
    const chunks = chunksOf.get(version.id) ?? [];
    const unreachable = new Set(chunks.filter((c) => !live.get(c.chunkId)?.length).map((c) => c.chunkId));
    if (unreachable.size > 0) {
      results[f.k] = {
        ok: false,
        error: new AppError(
          "UNAVAILABLE",
          `${unreachable.size} of ${new Set(chunks.map((c) => c.chunkId)).size} chunks of ${f.path} (version ${version.number}) have no live replica: the nodes holding them are down; try again when they are back`,
          { unreachableChunks: [...unreachable].slice(0, 100) },
        ).toBody().error,
      };
      continue;
    }
    for (const c of chunks)
      if (!ordered.has(c.chunkId)) ordered.set(c.chunkId, nearestFirst(c.chunkId, live.get(c.chunkId)!, site));
    readable.push(f);
  }

  // Read capabilities over the chunks of every file of the batch, not one set per file.
  const tokens = await readTokens(ctx, user, ordered, now, opts.ip ?? null);
  for (const f of readable) {
    const version = versionOf.get(f.k)!;
    const plan: DownloadPlan = {
      path: f.path,
      size: Number(version.size),
      version: version.number,
      chunks: planChunks(chunksOf.get(version.id) ?? [], ordered, tokens),
    };
    results[f.k] = { ok: true, value: plan };
  }

  // The cases above left to planDownload, a few at a time, each with its own error.
  const slowOut = await mapInOrder(slow, async (k) => {
    try {
      return { ok: true as const, value: await planDownload(ctx, user, req.files[k]!, opts) };
    } catch (err) {
      return { ok: false as const, error: itemError(err) };
    }
  });
  slow.forEach((k, i) => (results[k] = slowOut[i]!));
  return { results };
}
