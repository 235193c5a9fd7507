import { AppError } from "@cumulus/protocol/errors";
import { formatPath, parsePath } from "@cumulus/protocol/paths";
import { LEVEL, permissionLevels, traversableIds, type AuthUser, type Db } from "../access/access.ts";
import { forbidden, lookup } from "../fs/tree.ts";
import { checkTarget, type TargetState } from "./begin-upload.ts";

/** A target as checkTarget decides it, plus whose quota the write counts against. */
export type BulkTarget = TargetState & {
  owner: { id: string; email: string };
  /** Size of the file being replaced (0 for a new file). */
  currentSize: number;
};

/**
 * `checkTarget` + `quotaOwner` for many paths with a few queries instead of several per
 * path: one walk per distinct parent folder (a batch of small files usually has one or a
 * few), one query for all the named children, one for their permissions. Every decision
 * and message is checkTarget's; a case this does not model (a parent that is missing or
 * not a folder, a child the user may only see through a deeper share) goes through
 * checkTarget itself, so errors are word for word the single-file ones. Errors are
 * returned per item, never thrown (a caller inside a transaction must not have a failed
 * statement: nothing here writes, and only AppErrors are caught).
 */
export async function checkTargets(
  db: Db,
  user: AuthUser,
  items: readonly { path: string; baseVersion: number | null }[],
): Promise<(BulkTarget | AppError)[]> {
  const out = new Array<BulkTarget | AppError>(items.length);
  const parsed = items.map((it) => {
    const parts = parsePath(it.path);
    return { parts, path: formatPath(parts), parent: formatPath(parts.slice(0, -1)), name: parts[parts.length - 1]! };
  });
  const slow: number[] = [];
  const byParent = new Map<string, number[]>();
  parsed.forEach((p, i) => {
    if (p.parts.length === 0) slow.push(i);
    else {
      const list = byParent.get(p.parent);
      if (list) list.push(i);
      else byParent.set(p.parent, [i]);
    }
  });

  type Parent = { id: string; level: number; items: number[] };
  const parents: Parent[] = [];
  for (const [parentPath, idx] of byParent) {
    const l = await lookup(db, user, parentPath);
    if (l.chain.length !== l.parts.length + 1) {
      slow.push(...idx);
      continue;
    }
    parents.push({ id: l.chain[l.chain.length - 1]!, level: l.levels[l.levels.length - 1]!, items: idx });
  }
  if (parents.length > 0) {
    const folders = await db.entry.findMany({
      where: { id: { in: parents.map((p) => p.id) } },
      select: { id: true, type: true },
    });
    const isFolder = new Set(folders.filter((f) => f.type === "folder").map((f) => f.id));
    for (let k = parents.length - 1; k >= 0; k--) {
      if (!isFolder.has(parents[k]!.id)) {
        slow.push(...parents[k]!.items);
        parents.splice(k, 1);
      }
    }
  }
  const children = parents.length
    ? await db.entry.findMany({
        where: {
          parentId: { in: parents.map((p) => p.id) },
          liveName: { in: [...new Set(parents.flatMap((p) => p.items.map((i) => parsed[i]!.name)))] },
        },
        select: {
          id: true,
          parentId: true,
          liveName: true,
          type: true,
          size: true,
          currentVersionId: true,
          currentVersion: { select: { number: true } },
          owner: { select: { id: true, email: true } },
        },
      })
    : [];
  const childOf = new Map(children.map((c) => [`${c.parentId}/${c.liveName}`, c] as const));
  const levels = await permissionLevels(
    db,
    user,
    children.map((c) => c.id),
  );
  let traversable: Set<string> | null = null;

  for (const p of parents) {
    for (const i of p.items) {
      const { path, parent, name } = parsed[i]!;
      const { baseVersion } = items[i]!;
      const child = childOf.get(`${p.id}/${name}`);
      let visible = child !== undefined;
      if (child && levels.get(child.id)! < LEVEL.read && p.level < LEVEL.read) {
        traversable ??= await traversableIds(db, user);
        visible = traversable.has(child.id);
      }
      if (child && visible) {
        const current = child.currentVersion?.number ?? null;
        if (child.type === "folder")
          out[i] = new AppError("ALREADY_EXISTS", `${path} is a folder: choose another name for the file`);
        else if (levels.get(child.id)! < LEVEL.write) out[i] = forbidden(path, "write");
        else if (baseVersion === null)
          out[i] = new AppError(
            "CONFLICT",
            `${path} already exists (version ${current ?? "none"}): pass its version as the base to replace it`,
            { currentVersion: current },
          );
        else if (current !== baseVersion)
          out[i] = new AppError(
            "CONFLICT",
            `${path} changed since version ${baseVersion} (now ${current ?? "none"}): fetch the new version and merge first`,
            { currentVersion: current },
          );
        else
          out[i] = {
            entryId: child.id,
            parentId: p.id,
            currentVersion: current,
            currentVersionId: child.currentVersionId,
            owner: child.owner ?? user,
            currentSize: Number(child.size),
          };
      } else if (p.level < LEVEL.write) out[i] = forbidden(parent, "write");
      else if (baseVersion !== null)
        out[i] = new AppError(
          "CONFLICT",
          `${path} no longer exists (it was at version ${baseVersion}): it was moved or deleted; upload without a base version to create it again`,
          { currentVersion: null },
        );
      else
        out[i] = {
          entryId: null,
          parentId: p.id,
          currentVersion: null,
          currentVersionId: null,
          owner: user,
          currentSize: 0,
        };
    }
  }

  for (const i of slow) {
    try {
      const t = await checkTarget(db, user, items[i]!.path, items[i]!.baseVersion);
      // checkTarget only returns for a target it accepts; its owner is looked up as quotaOwner does.
      const e = t.entryId
        ? await db.entry.findUniqueOrThrow({
            where: { id: t.entryId },
            select: { size: true, owner: { select: { id: true, email: true } } },
          })
        : null;
      out[i] = { ...t, owner: e?.owner ?? user, currentSize: e ? Number(e.size) : 0 };
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      out[i] = err;
    }
  }
  return out;
}
