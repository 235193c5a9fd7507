import { z } from "zod";
import type { Entry as ApiEntry } from "@cumulus/protocol/api";
import type { ControlContext } from "../context.ts";
import { LEVEL, type AuthUser } from "../access/access.ts";
import { ensureRoot, lookup, missingError, forbidden } from "../fs/tree.ts";

export const ZSearchQuery = z.object({
  q: z.string().trim().min(1, "type something to search for").max(255),
  /** Search only below this folder (default: everything the user can read). */
  within: z.string().min(1).max(4096).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).max(100_000).default(0),
});

export type SearchResult = {
  q: string;
  entries: ApiEntry[];
  /** Offset of the next page; null when this was the last. */
  nextOffset: number | null;
};

/** `%`, `_` and `\` match themselves: the user searches for text, not a pattern. */
export function likePattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * Live entries whose name contains `q` (case-insensitive), among those the user can read:
 * below the user's own top-level entries (their home), below what is shared with them
 * (their ACL grants and their groups'), below public entries — or, for an admin, below
 * the root. Ordered by name, then path; paginated by offset.
 */
export async function searchByName(ctx: ControlContext, user: AuthUser, input: unknown): Promise<SearchResult> {
  const q = ZSearchQuery.parse(input);
  const db = ctx.prisma;
  let roots: { id: string; path: string }[];
  if (q.within) {
    const l = await lookup(db, user, q.within);
    if (l.chain.length < l.parts.length + 1) throw await missingError(db, l);
    if (l.levels[l.levels.length - 1]! < LEVEL.read) throw forbidden(l.path, "read");
    roots = [{ id: l.chain[l.chain.length - 1]!, path: l.path }];
  } else if (user.role === "admin") {
    roots = [{ id: await ensureRoot(db), path: "/" }];
  } else {
    roots = await db.$queryRaw<{ id: string; path: string }[]>`
      WITH RECURSIVE starts(id) AS (
        SELECT e.id FROM "Entry" e
        WHERE e."ownerId" = ${user.id}::uuid AND e."liveName" IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM "Entry" p WHERE p.id = e."parentId" AND p."ownerId" = ${user.id}::uuid)
        UNION
        SELECT a."entryId" FROM "AclEntry" a
        WHERE a."userId" = ${user.id}::uuid
           OR a."groupId" IN (SELECT m."groupId" FROM "GroupMember" m WHERE m."userId" = ${user.id}::uuid)
        UNION
        SELECT e.id FROM "Entry" e WHERE e."isPublic"
      ), up(start, id, "parentId", "liveName", name, names) AS (
        SELECT e.id, e.id, e."parentId", e."liveName", e.name, ARRAY[e.name] FROM "Entry" e WHERE e.id IN (SELECT id FROM starts)
        UNION ALL
        SELECT up.start, p.id, p."parentId", p."liveName", p.name, p.name || up.names FROM up JOIN "Entry" p ON p.id = up."parentId"
      )
      SELECT start::text AS id, array_to_string(names, '/') AS path
      FROM up
      WHERE start IN (SELECT start FROM up GROUP BY start HAVING bool_and("liveName" IS NOT NULL))
        AND "parentId" IS NULL`;
    roots = roots.map((r) => ({ id: r.id, path: r.path === "" ? "/" : r.path }));
  }
  if (roots.length === 0) return { q: q.q, entries: [], nextOffset: null };

  const pattern = likePattern(q.q);
  const rows = await db.$queryRaw<
    {
      id: string;
      name: string;
      path: string;
      type: "folder" | "file";
      size: bigint;
      updatedAt: Date;
      owner: string | null;
      version: number | null;
    }[]
  >`
    WITH RECURSIVE roots(id, path) AS (
      SELECT * FROM unnest(${roots.map((r) => r.id)}::uuid[], ${roots.map((r) => r.path)}::text[])
    ), tree(id, path, root) AS (
      SELECT id, path, true FROM roots
      UNION
      SELECT c.id, CASE WHEN t.path = '/' THEN '/' || c.name ELSE t.path || '/' || c.name END, false
      FROM tree t JOIN "Entry" c ON c."parentId" = t.id AND c."liveName" IS NOT NULL
    )
    SELECT DISTINCT ON (e.name, t.path) e.id::text AS id, e.name, t.path, e.type::text AS type, e.size,
           e."updatedAt", u.email AS owner, v.number AS version
    FROM tree t
    JOIN "Entry" e ON e.id = t.id
    LEFT JOIN "User" u ON u.id = e."ownerId"
    LEFT JOIN "FileVersion" v ON v.id = e."currentVersionId"
    WHERE e.name ILIKE ${pattern} AND e."parentId" IS NOT NULL
      AND NOT (t.root AND ${q.within !== undefined})
    ORDER BY e.name, t.path
    LIMIT ${q.limit + 1} OFFSET ${q.offset}`;
  const more = rows.length > q.limit;
  return {
    q: q.q,
    entries: rows.slice(0, q.limit).map((r) => ({
      id: r.id,
      name: r.name,
      path: r.path,
      type: r.type,
      size: Number(r.size),
      modifiedAt: r.updatedAt.toISOString(),
      owner: r.owner,
      version: r.type === "file" ? r.version : null,
    })),
    nextOffset: more ? q.offset + q.limit : null,
  };
}
