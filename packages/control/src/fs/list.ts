import { z } from "zod";
import type { ZListResponse } from "@cumulus/protocol/api";
import type { ControlContext } from "../context.ts";
import { LEVEL, traversableIds, type AuthUser } from "../access/access.ts";
import { ENTRY_INCLUDE, joinPath, lookup, missingError, toApiEntry } from "./tree.ts";

export const ZListQuery = z.object({ path: z.string().min(1).max(4096).default("/") });

/**
 * GET /api/v1/fs/list — the live children of a folder. A folder the user may only pass
 * through (e.g. "/" or "/home" for a non-admin) lists only the children that lead to
 * something of theirs; a file lists as itself.
 */
export async function listFolder(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
): Promise<z.infer<typeof ZListResponse>> {
  const q = ZListQuery.parse(input);
  const l = await lookup(ctx.prisma, user, q.path);
  if (l.chain.length < l.parts.length + 1) throw await missingError(ctx.prisma, l);
  const id = l.chain[l.chain.length - 1]!;
  const level = l.levels[l.levels.length - 1]!;
  const self = await ctx.prisma.entry.findUniqueOrThrow({ where: { id }, include: ENTRY_INCLUDE });
  if (self.type === "file") {
    if (level < LEVEL.read) throw await missingError(ctx.prisma, { ...l, chain: l.chain.slice(0, -1) });
    return { path: l.path, entries: [toApiEntry(self, l.path)] };
  }
  let children = await ctx.prisma.entry.findMany({
    where: { parentId: id, liveName: { not: null } },
    include: ENTRY_INCLUDE,
  });
  if (level < LEVEL.read) {
    const reachable = await traversableIds(ctx.prisma, user);
    children = children.filter((c) => reachable.has(c.id));
  }
  children.sort((a, b) =>
    a.type === b.type ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : a.type === "folder" ? -1 : 1,
  );
  return { path: l.path, entries: children.map((c) => toApiEntry(c, joinPath(l.path, c.name))) };
}
