import { AppError } from "@cumulus/protocol/errors";
import type { PipelineHop } from "@cumulus/protocol/node-api";
import type { ControlContext } from "../context.ts";
import { TX_OPTIONS } from "./config.ts";
import { signCapability } from "../capabilities/tokens.ts";
import { verifyReceipts } from "../uploads/receipts.ts";
import { deleteOnNode, replicateBatchOnNode } from "./node-client.ts";
import type { DeleteReason } from "./plan.ts";

/**
 * The reconciler's two kinds of work, as run by its queue's jobs. Both are idempotent and
 * re-check the database before acting (the plan that queued them may be minutes old), so
 * a retried, duplicated or outdated job does nothing harmful: at worst nothing.
 */

export type CopyPayload = {
  chunk: string;
  size: number;
  target: string;
  /** Preferred sources first (admission picked the least busy). */
  sources: string[];
  reason: string;
};

export type DeletePayload = {
  chunk: string;
  node: string;
  reason: DeleteReason | "orphan";
  /** surplus: other live copies that must remain. */
  minOthers: number;
  /** orphan: the file's mtime from the node's inventory (node clock). */
  ifUnmodifiedSince?: number;
};

export type TaskOutcome =
  | { outcome: "copied"; bytes: number; source: string | null }
  | { outcome: "deleted" }
  | { outcome: "kept" }
  | { outcome: "obsolete"; why: string }
  /** A node could not be reached (or had no source): replanned after a cool-down, not retried here. */
  | { outcome: "unavailable"; why: string };

type NodeRow = {
  id: string;
  name: string;
  site: string;
  status: string;
  epoch: number;
  url: string;
  udt: string | null;
  live: boolean;
};

async function nodeById(ctx: ControlContext, id: string, now: Date): Promise<NodeRow | null> {
  const cutoff = new Date(now.getTime() - ctx.config.nodeTimeoutMs);
  const n = await ctx.prisma.storageNode.findUnique({ where: { id }, include: { site: { select: { name: true } } } });
  if (!n) return null;
  return {
    id: n.id,
    name: n.name,
    site: n.site.name,
    status: n.status,
    epoch: n.epoch,
    url: n.dataUrl,
    udt: n.udtAddress,
    live: (n.status === "active" || n.status === "draining") && n.lastHeartbeatAt >= cutoff,
  };
}

type ReplicaRow = {
  nodeId: string;
  state: "stored" | "corrupt" | "deleting";
  live: boolean;
  name: string;
  site: string;
  url: string;
  udt: string | null;
};

function hop(n: { nodeId?: string; id?: string; url: string; site: string; udt: string | null }): PipelineHop {
  return { nodeId: (n.nodeId ?? n.id)!, url: n.url, site: n.site, ...(n.udt ? { udt: n.udt } : {}) };
}

/**
 * Copies one chunk node to node (jobs queued one chunk at a time by earlier versions): a
 * batch of one.
 */
export async function runCopy(
  ctx: ControlContext,
  p: CopyPayload,
  opts: { timeoutMs: number; signal?: AbortSignal },
): Promise<TaskOutcome> {
  const [r] = await runCopyBatch(ctx, [p], opts);
  if (r!.status === "rejected") throw r!.reason;
  return r!.value;
}

/** Replica rows of many chunks in one query (the batch's view of where copies are). */
async function replicasOfMany(
  ctx: ControlContext,
  chunks: readonly string[],
  now: Date,
): Promise<Map<string, ReplicaRow[]>> {
  const cutoff = new Date(now.getTime() - ctx.config.nodeTimeoutMs);
  const rows = await ctx.prisma.$queryRaw<(ReplicaRow & { chunkId: string })[]>`
    SELECT r."chunkId", r."nodeId"::text AS "nodeId", r.state::text AS state,
           (r.state = 'stored' AND r.epoch = n.epoch AND n.status IN ('active', 'draining') AND n."lastHeartbeatAt" >= ${cutoff}) AS live,
           n.name, s.name AS site, n."dataUrl" AS url, n."udtAddress" AS udt
    FROM "ChunkReplica" r JOIN "StorageNode" n ON n.id = r."nodeId" JOIN "Site" s ON s.id = n."siteId"
    WHERE r."chunkId" = ANY(${chunks as string[]}::text[])`;
  const out = new Map<string, ReplicaRow[]>();
  for (const r of rows) {
    const list = out.get(r.chunkId);
    if (list) list.push(r);
    else out.set(r.chunkId, [r]);
  }
  return out;
}

/** Sources one batch may name (signed in its capability); the preferred ones come first. */
const MAX_BATCH_SOURCES = 8;

/**
 * Copies many chunks to one target in one task (FDS-style bulk recovery): one look at the
 * database for all of them, one pair of capabilities, one request to the target (which
 * pulls them in parallel, verifies each and makes them durable with grouped fsyncs), one
 * check of the receipts and one insert of the new replica rows. Each chunk gets its own
 * outcome, exactly as runCopy would give it: a chunk that is already there, gone or
 * unreachable does not hold the others back. Rejected entries are retried (alone) by
 * the queue.
 */
export async function runCopyBatch(
  ctx: ControlContext,
  items: readonly CopyPayload[],
  opts: { timeoutMs: number; signal?: AbortSignal },
): Promise<PromiseSettledResult<TaskOutcome>[]> {
  const out: PromiseSettledResult<TaskOutcome>[] = items.map(() => ({
    status: "fulfilled",
    value: { outcome: "obsolete", why: "not run" },
  }));
  const done = (i: number, value: TaskOutcome) => (out[i] = { status: "fulfilled", value });
  const fail = (i: number, reason: unknown) => (out[i] = { status: "rejected", reason });
  const targets = [...new Set(items.map((p) => p.target))];
  if (targets.length > 1) {
    // Batches are cut per target; a mixed one (hand-made) is run per target.
    for (const t of targets) {
      const idx = items.flatMap((p, i) => (p.target === t ? [i] : []));
      const sub = await runCopyBatch(
        ctx,
        idx.map((i) => items[i]!),
        opts,
      );
      idx.forEach((i, k) => (out[i] = sub[k]!));
    }
    return out;
  }
  const now = new Date();
  const ids = [...new Set(items.map((p) => p.chunk))];
  const [target, chunkRows, replicas] = await Promise.all([
    nodeById(ctx, targets[0]!, now),
    ctx.prisma.chunk.findMany({ where: { id: { in: ids } }, select: { id: true, size: true } }),
    replicasOfMany(ctx, ids, now),
  ]);
  const sizeOf = new Map(chunkRows.map((c) => [c.id, c.size] as const));

  // Decide per chunk, as runCopy does.
  type Go = { i: number; chunk: string; size: number; sources: ReplicaRow[] };
  const go: Go[] = [];
  const taken = new Set<string>();
  for (const [i, p] of items.entries()) {
    if (!target || !target.live || target.status !== "active") {
      done(i, { outcome: "obsolete", why: "target not eligible" });
      continue;
    }
    const size = sizeOf.get(p.chunk);
    if (size === undefined) {
      done(i, { outcome: "obsolete", why: "chunk gone" });
      continue;
    }
    if (taken.has(p.chunk)) {
      done(i, { outcome: "obsolete", why: "twice in one batch" });
      continue;
    }
    const rows = replicas.get(p.chunk) ?? [];
    const here = rows.find((r) => r.nodeId === p.target);
    if (here?.live) {
      done(i, { outcome: "obsolete", why: "already there" });
      continue;
    }
    if (here?.state === "deleting") {
      done(i, { outcome: "obsolete", why: "being deleted there" });
      continue;
    }
    const rank = (id: string) => {
      const k = p.sources.indexOf(id);
      return k === -1 ? p.sources.length : k;
    };
    const sources = rows.filter((r) => r.live && r.nodeId !== p.target).sort((a, b) => rank(a.nodeId) - rank(b.nodeId));
    if (sources.length === 0) {
      done(i, { outcome: "unavailable", why: `chunk ${p.chunk} has no live copy to copy from right now` });
      continue;
    }
    taken.add(p.chunk);
    go.push({ i, chunk: p.chunk, size, sources });
  }
  if (go.length === 0 || !target) return out;

  // The signed sources: each chunk's best first, then the alternatives, within the cap.
  const hops: PipelineHop[] = [];
  const hopIndex = new Map<string, number>();
  const addHop = (r: ReplicaRow) => {
    if (hopIndex.has(r.nodeId) || hops.length >= MAX_BATCH_SOURCES) return;
    hopIndex.set(r.nodeId, hops.length);
    hops.push(hop(r));
  };
  for (const g of go) addHop(g.sources[0]!);
  for (const g of go) for (const r of g.sources) addHop(r);
  const all = go.map((g) => ({
    g,
    item: {
      chunk: g.chunk,
      size: g.size,
      sources: g.sources.flatMap((r) => (hopIndex.has(r.nodeId) ? [hopIndex.get(r.nodeId)!] : [])),
    },
  }));
  // A chunk whose every source fell outside the cap waits for a batch of its own.
  for (const x of all)
    if (x.item.sources.length === 0) done(x.g.i, { outcome: "unavailable", why: "too many sources in one batch" });
  const sendable = all.filter((x) => x.item.sources.length > 0);
  go.splice(0, go.length, ...sendable.map((x) => x.g));
  const request = sendable.map((x) => x.item);
  if (request.length === 0) return out;
  const chunks = go.map((g) => g.chunk);
  const [replicate, read] = await Promise.all([
    signCapability(ctx, { op: "replicate", aud: [target.id], chunks, sources: hops, sub: "system" }),
    signCapability(ctx, { op: "read", aud: hops.map((h) => h.nodeId), chunks, sub: "system" }),
  ]);
  let res;
  try {
    res = await replicateBatchOnNode(
      target.url,
      replicate.token,
      { items: request, readToken: read.token },
      opts.timeoutMs,
      opts.signal,
    );
  } catch (err) {
    for (const g of go) {
      if (err instanceof AppError && err.code === "UNAVAILABLE")
        done(g.i, { outcome: "unavailable", why: err.message });
      else fail(g.i, err);
    }
    return out;
  }

  const good: { g: Go; receipt: string; bytes: number; source: string | null }[] = [];
  for (const [k, r] of res.results.entries()) {
    const g = go[k]!;
    if (r.ok) good.push({ g, receipt: r.receipt, bytes: r.bytesCopied, source: r.sourceNodeId });
    else if (r.code === "UNAVAILABLE") done(g.i, { outcome: "unavailable", why: r.message });
    else fail(g.i, new AppError(r.code, r.message));
  }
  if (good.length === 0) return out;
  let verified;
  try {
    verified = await verifyReceipts(
      ctx.prisma,
      Object.fromEntries(good.map((x) => [x.g.chunk, [x.receipt]])),
      new Map(good.map((x) => [x.g.chunk, x.g.size])),
    );
  } catch (err) {
    for (const x of good) fail(x.g.i, err);
    return out;
  }
  const wrong = verified.find((v) => v.nodeId !== target.id);
  if (wrong) {
    const err = new AppError(
      "BAD_REQUEST",
      `a receipt for chunk ${wrong.chunkId} is not from the copy's target ${target.name}`,
    );
    for (const x of good) fail(x.g.i, err);
    return out;
  }
  const epochs = new Map(verified.map((v) => [v.chunkId, v.epoch] as const));
  const okIds = good.map((x) => x.g.chunk);
  const okEpochs = okIds.map((id) => epochs.get(id)!);
  // Only rows of chunks that still exist: one collected meanwhile leaves an orphan file
  // (the node's inventory sweeps it), never a failed batch.
  const inserted = await ctx.prisma.$queryRaw<{ chunkId: string }[]>`
    INSERT INTO "ChunkReplica" ("chunkId", "nodeId", state, epoch, "createdAt", "verifiedAt")
    SELECT c.id, ${target.id}::uuid, 'stored', x.epoch, now(), now()
    FROM unnest(${okIds}::text[], ${okEpochs}::int[]) AS x(id, epoch) JOIN "Chunk" c ON c.id = x.id
    -- Not onto a node removed meanwhile (removal deletes its rows under this row's lock).
    WHERE EXISTS (
      SELECT 1 FROM "StorageNode" n WHERE n.id = ${target.id}::uuid AND n.status <> 'decommissioned' FOR SHARE)
    ON CONFLICT ("chunkId", "nodeId") DO UPDATE SET state = 'stored', epoch = EXCLUDED.epoch, "verifiedAt" = now()
    WHERE "ChunkReplica".state <> 'deleting'
    RETURNING "chunkId"`;
  const wrote = new Set(inserted.map((r) => r.chunkId));
  const missing = okIds.filter((id) => !wrote.has(id));
  // Rows not written: the chunk was collected, the target removed, or the row is being
  // deleted there (then the copy still happened, as runCopy reports it).
  const [stillThere, removed] =
    missing.length === 0
      ? [new Set<string>(), false]
      : await Promise.all([
          ctx.prisma.chunk
            .findMany({ where: { id: { in: missing } }, select: { id: true } })
            .then((rows) => new Set(rows.map((c) => c.id))),
          ctx.prisma.storageNode
            .findUnique({ where: { id: target.id }, select: { status: true } })
            .then((n) => !n || n.status === "decommissioned"),
        ]);
  for (const x of good) {
    if (wrote.has(x.g.chunk)) done(x.g.i, { outcome: "copied", bytes: x.bytes, source: x.source });
    else if (removed) done(x.g.i, { outcome: "obsolete", why: "target removed meanwhile" });
    else if (stillThere.has(x.g.chunk)) done(x.g.i, { outcome: "copied", bytes: x.bytes, source: x.source });
    else done(x.g.i, { outcome: "obsolete", why: "chunk collected meanwhile" });
  }
  ctx.log.debug(
    { target: target.name, chunks: items.length, copied: good.length, bytes: good.reduce((s, x) => s + x.bytes, 0) },
    "replica batch copied",
  );
  return out;
}

/**
 * Deletes one replica. Surplus copies are first marked `deleting` under a lock on the
 * chunk, and only if enough other live copies remain at that moment, so two deletes of
 * one chunk can never both pass the check. The node is told to keep a copy written after
 * the decision (a client that re-uploaded the chunk meanwhile).
 */
export async function runDelete(
  ctx: ControlContext,
  p: DeletePayload,
  opts: { timeoutMs: number; isProtected?: (chunk: string) => Promise<boolean> },
): Promise<TaskOutcome> {
  const now = new Date();
  const node = await nodeById(ctx, p.node, now);
  if (!node || node.status === "decommissioned") return { outcome: "obsolete", why: "node gone" };

  if (p.reason === "orphan") {
    const known = await ctx.prisma.chunk.findUnique({ where: { id: p.chunk }, select: { id: true } });
    if (known) return { outcome: "obsolete", why: "chunk is known now" };
    if (await opts.isProtected?.(p.chunk)) return { outcome: "obsolete", why: "an upload references it" };
    if (!node.live) return { outcome: "obsolete", why: "node not live; its next inventory finds the file again" };
    const { token } = await signCapability(ctx, {
      op: "delete",
      aud: [node.id],
      chunks: [p.chunk],
      sub: "system",
      ...(p.ifUnmodifiedSince !== undefined ? { ifUnmodifiedSince: p.ifUnmodifiedSince } : {}),
    });
    const r = await deleteOnNode(node.url, p.chunk, token, opts.timeoutMs);
    return r === "modified" ? { outcome: "kept" } : { outcome: "deleted" };
  }

  const cutoff = new Date(now.getTime() - ctx.config.nodeTimeoutMs);
  const decided = await ctx.prisma.$transaction(async (tx) => {
    const locked = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM "Chunk" WHERE id = ${p.chunk} FOR NO KEY UPDATE`;
    if (locked.length === 0) return { ok: false as const, why: "chunk gone" };
    const rows = await tx.$queryRaw<{ state: string; verifiedAt: Date }[]>`
      SELECT state::text AS state, "verifiedAt" FROM "ChunkReplica" WHERE "chunkId" = ${p.chunk} AND "nodeId" = ${p.node}::uuid`;
    const row = rows[0];
    if (!row) return { ok: false as const, why: "no such replica" };
    if (p.reason === "surplus") {
      if (row.state !== "stored") return { ok: false as const, why: `replica is ${row.state}` };
      const others = await tx.$queryRaw<{ n: number }[]>`
        SELECT count(*)::int AS n FROM "ChunkReplica" r JOIN "StorageNode" n ON n.id = r."nodeId"
        WHERE r."chunkId" = ${p.chunk} AND r."nodeId" <> ${p.node}::uuid AND r.state = 'stored' AND r.epoch = n.epoch
          AND n.status IN ('active', 'draining') AND n."lastHeartbeatAt" >= ${cutoff}`;
      if ((others[0]?.n ?? 0) < p.minOthers) return { ok: false as const, why: "not enough other copies any more" };
      const marked = await tx.$queryRaw<{ verifiedAt: Date }[]>`
        UPDATE "ChunkReplica" SET state = 'deleting', "verifiedAt" = now()
        WHERE "chunkId" = ${p.chunk} AND "nodeId" = ${p.node}::uuid RETURNING "verifiedAt"`;
      return { ok: true as const, markedAt: marked[0]!.verifiedAt };
    }
    if (p.reason === "corrupt") {
      if (row.state !== "corrupt") return { ok: false as const, why: `replica is ${row.state}` };
      return { ok: true as const, markedAt: row.verifiedAt };
    }
    // gc / cleanup: only what was marked deleting.
    if (row.state !== "deleting") return { ok: false as const, why: `replica is ${row.state}` };
    return { ok: true as const, markedAt: row.verifiedAt };
  }, TX_OPTIONS);
  if (!decided.ok) return { outcome: "obsolete", why: decided.why };
  // The row stays `deleting`: the scan queues the delete again once the node is back.
  if (!node.live) return { outcome: "obsolete", why: "node not live; the delete waits for it" };

  const { token } = await signCapability(ctx, {
    op: "delete",
    aud: [node.id],
    chunks: [p.chunk],
    sub: "system",
    ifUnmodifiedSince: decided.markedAt.getTime(),
  });
  const r = await deleteOnNode(node.url, p.chunk, token, opts.timeoutMs);
  if (r === "modified") {
    // A fresh, verified copy arrived after the decision (a client re-uploaded it): keep it.
    await ctx.prisma.$executeRaw`
      UPDATE "ChunkReplica" SET state = 'stored', epoch = ${node.epoch}, "verifiedAt" = now()
      WHERE "chunkId" = ${p.chunk} AND "nodeId" = ${p.node}::uuid AND state IN ('deleting', 'corrupt')`;
    return { outcome: "kept" };
  }
  await ctx.prisma.$executeRaw`
    DELETE FROM "ChunkReplica" WHERE "chunkId" = ${p.chunk} AND "nodeId" = ${p.node}::uuid AND state IN ('deleting', 'corrupt')`;
  ctx.log.debug({ chunk: p.chunk, node: node.name, reason: p.reason }, "replica deleted");
  return { outcome: "deleted" };
}
