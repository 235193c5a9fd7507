import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import type { ZChangesResponse } from "@cumulus/protocol/api";
import type { ControlContext } from "../context.ts";
import { LEVEL, permissionLevels, type AuthUser } from "../access/access.ts";
import { joinPath, pathsOf } from "../fs/tree.ts";

export const MAX_WAIT_SECONDS = 30;
/** How often a long-poll looks anyway while commits are announced (ChangeSignal). */
const SAFETY_POLL_MS = 5_000;

export const ZChangesQuery = z.object({
  cursor: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(0),
  // Longer waits are cut to the maximum rather than refused: a client asking for more just polls again sooner.
  wait: z.coerce
    .number()
    .min(0)
    .default(0)
    .transform((w) => Math.min(w, MAX_WAIT_SECONDS)),
  limit: z.coerce.number().int().min(1).max(1000).default(500),
});

export type ChangesResponse = z.infer<typeof ZChangesResponse>;
type Row = {
  seq: bigint;
  at: Date;
  kind: ChangesResponse["changes"][number]["kind"];
  entryId: string;
  parentId: string | null;
  name: string;
  type: "folder" | "file";
  versionId: string | null;
};

/**
 * GET /api/v1/changes — the change feed after `cursor`, limited to entries the user can
 * read now or changes made in a folder the user can read now (paths: that folder's
 * current path and the name the change gave).
 * A move that took an entry out of the user's sight is still reported, without a path,
 * so a sync agent can drop its copy. With `wait`, an empty answer is held back until a
 * change arrives or the time is up; the cursor still advances over changes the user may
 * not see, so they are never scanned again. With `ctx.changes`, a waiting request is woken
 * by each commit instead of polling every `pollMs`.
 */
export async function listChanges(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  opts: { signal?: AbortSignal; pollMs?: number; safetyPollMs?: number } = {},
): Promise<ChangesResponse> {
  const q = ZChangesQuery.parse(input);
  const deadline = Date.now() + q.wait * 1000;
  const pollMs = opts.pollMs ?? 200;
  const commits = q.wait > 0 ? ctx.changes : undefined;
  commits?.start();
  let cursor = BigInt(q.cursor);
  for (;;) {
    const mark = commits?.mark() ?? 0;
    const rows = (await ctx.prisma.change.findMany({
      where: { seq: { gt: cursor } },
      orderBy: { seq: "asc" },
      take: q.limit,
    })) as Row[];
    if (rows.length > 0) {
      cursor = rows[rows.length - 1]!.seq;
      const changes = await visibleChanges(ctx, user, rows);
      if (changes.length > 0) return { changes, cursor: Number(cursor) };
      if (rows.length === q.limit) continue;
    }
    const left = deadline - Date.now();
    if (left <= 0 || opts.signal?.aborted) return { changes: [], cursor: Number(cursor) };
    if (commits?.live) {
      // Woken by a commit; the occasional look without one is a safety net only.
      await commits.wait(mark, Math.min(left, opts.safetyPollMs ?? SAFETY_POLL_MS), opts.signal);
      if (opts.signal?.aborted) return { changes: [], cursor: Number(cursor) };
      continue;
    }
    try {
      await sleep(Math.min(pollMs, left), undefined, opts.signal ? { signal: opts.signal } : undefined);
    } catch {
      return { changes: [], cursor: Number(cursor) };
    }
  }
}

async function visibleChanges(ctx: ControlContext, user: AuthUser, rows: Row[]): Promise<ChangesResponse["changes"]> {
  const db = ctx.prisma;
  const parentIds = rows.map((r) => r.parentId).filter((p): p is string => p !== null);
  const levels = await permissionLevels(db, user, [...rows.map((r) => r.entryId), ...parentIds]);
  const existing = new Set(
    (
      await db.entry.findMany({ where: { id: { in: [...new Set(rows.map((r) => r.entryId))] } }, select: { id: true } })
    ).map((e) => e.id),
  );
  const readable = (id: string | null) => id !== null && (levels.get(id) ?? LEVEL.none) >= LEVEL.read;

  // Where a moved entry was before, for moves the user can no longer follow.
  const hiddenMoves = rows.filter((r) => r.kind === "move" && !readable(r.entryId) && !readable(r.parentId));
  const leftSight = new Set<bigint>();
  if (hiddenMoves.length > 0) {
    const before = await db.$queryRaw<{ seq: bigint; parentId: string | null }[]>`
      SELECT m.seq, (SELECT c."parentId"::text FROM "Change" c WHERE c."entryId" = m."entryId" AND c.seq < m.seq ORDER BY c.seq DESC LIMIT 1) AS "parentId"
      FROM unnest(${hiddenMoves.map((r) => r.seq)}::bigint[], ${hiddenMoves.map((r) => r.entryId)}::uuid[]) AS m(seq, "entryId")`;
    const oldParents = before.map((b) => b.parentId).filter((p): p is string => p !== null);
    const oldLevels = await permissionLevels(db, user, oldParents);
    for (const b of before)
      if (b.parentId && (oldLevels.get(b.parentId) ?? LEVEL.none) >= LEVEL.read) leftSight.add(b.seq);
  }

  // Visible: the entry is readable now, or the change happened in a folder the user can read.
  const shown = rows.filter(
    (r) => (existing.has(r.entryId) && readable(r.entryId)) || readable(r.parentId) || leftSight.has(r.seq),
  );
  if (shown.length === 0) return [];
  const paths = await pathsOf(
    db,
    shown.map((r) => r.parentId).filter((p): p is string => p !== null),
  );
  const versionIds = shown.map((r) => r.versionId).filter((v): v is string => v !== null);
  const versions = new Map(
    (
      await db.fileVersion.findMany({
        where: { id: { in: versionIds } },
        select: { id: true, number: true, contentHash: true },
      })
    ).map((v) => [v.id, v] as const),
  );
  return shown.map((r) => ({
    seq: Number(r.seq),
    kind: r.kind,
    entryId: r.entryId,
    path: leftSight.has(r.seq)
      ? null
      : r.parentId === null
        ? "/"
        : paths.has(r.parentId)
          ? joinPath(paths.get(r.parentId)!, r.name)
          : null,
    type: r.type,
    version: r.versionId ? (versions.get(r.versionId)?.number ?? null) : null,
    at: r.at.toISOString(),
    // A move out of sight does not say where it went.
    parentId: leftSight.has(r.seq) ? null : r.parentId,
    name: r.name,
    contentHash: r.versionId ? (versions.get(r.versionId)?.contentHash ?? null) : null,
  }));
}
