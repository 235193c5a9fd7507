import { z } from "zod";
import type { TreeResponse } from "@cumulus/protocol/api";
import { AppError } from "@cumulus/protocol/errors";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { resolveEntry } from "./tree.ts";

export const ZTreeQuery = z.object({ path: z.string().min(1).max(4096).default("/") });

/** Above this many entries the snapshot is refused rather than held in memory at once. */
export const MAX_TREE_ENTRIES = 1_000_000;

type Row = {
  id: string;
  parentId: string | null;
  name: string;
  type: "folder" | "file";
  size: bigint;
  version: number | null;
  contentHash: string | null;
};

/**
 * GET /api/v1/fs/tree — the live subtree under a folder (or a single file) the user can
 * read, for a sync agent's remote tree. Read access is inherited downwards, so every entry
 * below a readable folder is readable: no per-entry check is needed. The cursor is read
 * before the tree inside one REPEATABLE READ transaction, so the snapshot reflects at
 * least every change up to it; replaying later changes over it converges.
 */
export async function fsTree(ctx: ControlContext, user: AuthUser, input: unknown): Promise<TreeResponse> {
  const q = ZTreeQuery.parse(input);
  return ctx.prisma.$transaction(
    async (tx) => {
      const r = await resolveEntry(tx, user, q.path, "read");
      const last = await tx.change.findFirst({ orderBy: { seq: "desc" }, select: { seq: true } });
      const rows = await tx.$queryRaw<Row[]>`
        WITH RECURSIVE sub(id) AS (
          SELECT ${r.entry.id}::uuid
          UNION ALL
          SELECT c.id FROM sub JOIN "Entry" c ON c."parentId" = sub.id AND c."liveName" IS NOT NULL
        )
        SELECT e.id::text AS id, e."parentId"::text AS "parentId", e.name, e.type::text AS type, e.size,
               v.number AS version, v."contentHash" AS "contentHash"
        FROM sub JOIN "Entry" e ON e.id = sub.id
        LEFT JOIN "FileVersion" v ON v.id = e."currentVersionId"
        LIMIT ${MAX_TREE_ENTRIES + 1}`;
      if (rows.length > MAX_TREE_ENTRIES)
        throw new AppError("BAD_REQUEST", `${r.path} holds more than ${MAX_TREE_ENTRIES} entries: ask for a subfolder`);
      // The root of the snapshot first, then parents before children (the recursive walk's order is not guaranteed).
      const byParent = new Map<string | null, Row[]>();
      for (const row of rows) {
        if (row.id === r.entry.id) continue;
        const list = byParent.get(row.parentId) ?? [];
        list.push(row);
        byParent.set(row.parentId, list);
      }
      const ordered: Row[] = [rows.find((x) => x.id === r.entry.id)!];
      for (let i = 0; i < ordered.length; i++) ordered.push(...(byParent.get(ordered[i]!.id) ?? []));
      return {
        path: r.path,
        cursor: Number(last?.seq ?? 0n),
        entries: ordered.map((e) => ({
          id: e.id,
          parentId: e.parentId,
          name: e.name,
          type: e.type,
          version: e.type === "file" ? e.version : null,
          contentHash: e.type === "file" ? e.contentHash : null,
          size: Number(e.size),
        })),
      };
    },
    { isolationLevel: "RepeatableRead", timeout: 60_000 },
  );
}
