import { AppError } from "@cumulus/protocol/errors";
import { formatPath, parsePath } from "@cumulus/protocol/paths";
import type { Entry as ApiEntry } from "@cumulus/protocol/api";
import type { Prisma } from "@cumulus/db/client";
import {
  LEVEL,
  levelOf,
  permissionLevels,
  traversableIds,
  type AuthUser,
  type Db,
  type Level,
  type Permission,
} from "../access/access.ts";

/**
 * The root folder has a fixed id so that two control-plane instances creating it at the
 * same time insert the same row (the unique (parentId, liveName) index cannot protect a
 * row whose parentId is NULL).
 */
export const ROOT_ID = "00000000-0000-4000-8000-000000000000";

export const ENTRY_INCLUDE = {
  owner: { select: { email: true } },
  currentVersion: { select: { number: true } },
} satisfies Prisma.EntryInclude;

export type EntryRow = Prisma.EntryGetPayload<{ include: typeof ENTRY_INCLUDE }>;

export async function ensureRoot(db: Db): Promise<string> {
  const existing = await db.entry.findFirst({
    where: { parentId: null },
    orderBy: { createdAt: "asc" },
    select: { id: true },
  });
  if (existing) return existing.id;
  await db.entry.createMany({
    data: [{ id: ROOT_ID, parentId: null, name: "", liveName: "", type: "folder", ownerId: null }],
    skipDuplicates: true,
  });
  const root = await db.entry.findFirstOrThrow({
    where: { parentId: null },
    orderBy: { createdAt: "asc" },
    select: { id: true },
  });
  return root.id;
}

/** Ids of the live entries along `parts`, root first; shorter than parts+1 when a component is missing. */
export async function walkPath(db: Db, rootId: string, parts: readonly string[]): Promise<string[]> {
  if (parts.length === 0) return [rootId];
  const rows = await db.$queryRaw<{ id: string; depth: number }[]>`
    WITH RECURSIVE parts(name, idx) AS (
      SELECT * FROM unnest(${parts as string[]}::text[]) WITH ORDINALITY
    ), walk(id, depth) AS (
      SELECT ${rootId}::uuid, 0::bigint
      UNION ALL
      SELECT c.id, w.depth + 1 FROM walk w
      JOIN parts p ON p.idx = w.depth + 1
      JOIN "Entry" c ON c."parentId" = w.id AND c."liveName" = p.name
    )
    SELECT id::text AS id, depth::int AS depth FROM walk ORDER BY depth`;
  return rows.map((r) => r.id);
}

export type Lookup = {
  parts: string[];
  path: string;
  /** Ids of the entries along the path the user may know exist, root first. */
  chain: string[];
  /** The user's permission on each chain element. */
  levels: Level[];
};

/**
 * Walks a path as `user` sees it: entries the user may not know about (neither readable,
 * nor inside a readable folder, nor on the way to something of theirs) are treated as
 * absent, so every error a caller derives from the result leaks nothing.
 */
export async function lookup(db: Db, user: AuthUser, rawPath: string): Promise<Lookup> {
  const parts = parsePath(rawPath);
  const rootId = await ensureRoot(db);
  const ids = await walkPath(db, rootId, parts);
  const levelMap = await permissionLevels(db, user, ids);
  const levels = ids.map((id) => levelMap.get(id) ?? LEVEL.none);
  let visible = ids.length;
  if (levels.some((l) => l < LEVEL.read)) {
    let traversable: Set<string> | null = null;
    for (let i = 1; i < ids.length; i++) {
      if (levels[i]! >= LEVEL.read || levels[i - 1]! >= LEVEL.read) continue;
      traversable ??= await traversableIds(db, user);
      if (!traversable.has(ids[i]!)) {
        visible = i;
        break;
      }
    }
  }
  return { parts, path: formatPath(parts), chain: ids.slice(0, visible), levels: levels.slice(0, visible) };
}

export function notFound(path: string): AppError {
  return new AppError("NOT_FOUND", `no such file or folder: ${path}`);
}

export function forbidden(path: string, need: Permission): AppError {
  return new AppError("FORBIDDEN", `you do not have ${need} access to ${path}`);
}

export type Resolved = Lookup & { entry: EntryRow; level: Level; parentLevel: Level };

/** The live entry at `rawPath`, which `user` must be allowed to `need`. */
export async function resolveEntry(db: Db, user: AuthUser, rawPath: string, need: Permission): Promise<Resolved> {
  const l = await lookup(db, user, rawPath);
  if (l.chain.length < l.parts.length + 1) throw await missingError(db, l);
  const id = l.chain[l.chain.length - 1]!;
  const level = l.levels[l.levels.length - 1]!;
  const parentLevel = l.levels.length >= 2 ? l.levels[l.levels.length - 2]! : LEVEL.none;
  if (level < levelOf(need)) throw forbidden(l.path, need);
  const entry = await db.entry.findUniqueOrThrow({ where: { id }, include: ENTRY_INCLUDE });
  return { ...l, entry, level, parentLevel };
}

/** NOT_FOUND, or a clearer error when the user can see that a component is a file. */
export async function missingError(db: Db, l: Lookup): Promise<AppError> {
  const deepest = l.chain[l.chain.length - 1]!;
  const e = await db.entry.findUnique({ where: { id: deepest }, select: { type: true } });
  if (e?.type === "file") {
    return new AppError("BAD_REQUEST", `${formatPath(l.parts.slice(0, l.chain.length - 1))} is a file, not a folder`);
  }
  return notFound(l.path);
}

/** Current paths of entries (trashed ones: where they were), by walking up to the root. */
export async function pathsOf(db: Db, ids: readonly string[]): Promise<Map<string, string>> {
  const unique = [...new Set(ids)];
  const out = new Map<string, string>();
  if (unique.length === 0) return out;
  const rows = await db.$queryRaw<{ start: string; path: string }[]>`
    WITH RECURSIVE up(start, "parentId", names) AS (
      SELECT e.id, e."parentId", ARRAY[e.name] FROM "Entry" e WHERE e.id = ANY(${unique}::uuid[])
      UNION ALL
      SELECT up.start, p."parentId", p.name || up.names FROM up JOIN "Entry" p ON p.id = up."parentId"
    )
    SELECT start::text AS start, array_to_string(names, '/') AS path FROM up WHERE "parentId" IS NULL`;
  for (const r of rows) out.set(r.start, r.path === "" ? "/" : r.path);
  return out;
}

export async function pathOf(db: Db, id: string): Promise<string> {
  const p = (await pathsOf(db, [id])).get(id);
  if (p === undefined) throw new AppError("NOT_FOUND", `entry ${id} no longer exists`);
  return p;
}

export function joinPath(parent: string, name: string): string {
  return parent === "/" ? `/${name}` : `${parent}/${name}`;
}

export function toApiEntry(e: EntryRow, path: string): ApiEntry {
  return {
    id: e.id,
    name: e.name,
    path,
    type: e.type,
    size: Number(e.size),
    modifiedAt: e.updatedAt.toISOString(),
    owner: e.owner?.email ?? null,
    version: e.type === "file" ? (e.currentVersion?.number ?? null) : null,
  };
}

/** Maps a unique-index violation (a concurrent create of the same name) to `err`. */
export function isUniqueViolation(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const e = err as { code?: unknown; message?: unknown; meta?: unknown };
  if (e.code === "P2002" || e.code === "23505") return true;
  const text = `${typeof e.message === "string" ? e.message : ""} ${JSON.stringify(e.meta ?? {})}`;
  return /23505|unique constraint|UniqueConstraintViolation/i.test(text);
}

/**
 * Options for namespace transactions: wait longer than Prisma's 2 s for a pooled
 * connection (the pool is small and a burst of writers queues), and bound the run time.
 */
export const TX_OPTIONS = { maxWait: 10_000, timeout: 30_000 } as const;
