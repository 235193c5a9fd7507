import { z } from "zod";
import { AppError } from "@cumulus/protocol/errors";
import type { Entry } from "@cumulus/protocol/api";
import type { ControlContext } from "../context.ts";
import { LEVEL, permissionLevels, type AuthUser } from "../access/access.ts";
import { audit } from "../audit/audit.ts";
import { listFolder } from "../fs/list.ts";
import { pathsOf, resolveEntry } from "../fs/tree.ts";
import { ANONYMOUS } from "../gateway/gateway.ts";

/**
 * The anonymous public area: entries an admin marks public (Entry.isPublic) are
 * readable by anyone, read-only, with everything below them. Reading goes through the
 * normal access rule as the ANONYMOUS user (owns nothing, no grants), for whom exactly
 * the public entries are readable and their ancestors traversable.
 */

export const ZSetPublic = z.object({ path: z.string().min(1).max(4096), isPublic: z.boolean() });

export async function setEntryPublic(
  ctx: ControlContext,
  admin: AuthUser,
  input: unknown,
  meta: { ip?: string | null } = {},
): Promise<{ path: string; isPublic: boolean }> {
  const req = ZSetPublic.parse(input);
  if (admin.role !== "admin") throw new AppError("FORBIDDEN", "only admins can make entries public");
  const r = await resolveEntry(ctx.prisma, admin, req.path, "manage");
  if (r.entry.parentId === null) throw new AppError("BAD_REQUEST", "the root folder cannot be made public");
  if (r.entry.isPublic !== req.isPublic) {
    await ctx.prisma.entry.update({ where: { id: r.entry.id }, data: { isPublic: req.isPublic } });
    await audit(ctx, {
      action: req.isPublic ? "entry.public" : "entry.private",
      actor: admin.email,
      actorId: admin.id,
      target: r.path,
      ip: meta.ip ?? null,
      details: { entryId: r.entry.id, type: r.entry.type },
    });
  }
  return { path: r.path, isPublic: req.isPublic };
}

export type PublicEntry = { id: string; path: string; type: "file" | "folder"; size: number; modifiedAt: string };

/** Every entry marked public (live or in the trash, so an admin can see and unmark it). */
export async function listPublicEntries(ctx: ControlContext): Promise<(PublicEntry & { trashed: boolean })[]> {
  const rows = await ctx.prisma.entry.findMany({ where: { isPublic: true }, orderBy: { name: "asc" }, take: 1000 });
  const paths = await pathsOf(
    ctx.prisma,
    rows.map((r) => r.id),
  );
  return rows
    .map((e) => ({
      id: e.id,
      path: paths.get(e.id) ?? e.name,
      type: e.type,
      size: Number(e.size),
      modifiedAt: e.updatedAt.toISOString(),
      trashed: e.trashedAt !== null,
    }))
    .sort((a, b) => a.path.localeCompare(b.path));
}

/**
 * What an anonymous visitor sees at `path`: "/" and the folders above public entries
 * list only the way to them; a public folder (or one inside) lists its children.
 * `readable` says which entries anonymous visitors may download (the others they may
 * only pass through). Anything else answers NOT_FOUND.
 */
export async function publicListing(
  ctx: ControlContext,
  input: unknown,
): Promise<{ path: string; entries: (Entry & { readable: boolean })[] }> {
  const { path } = z.object({ path: z.string().min(1).max(4096).default("/") }).parse(input ?? {});
  const listing = await listFolder(ctx, ANONYMOUS, { path });
  const levels = await permissionLevels(
    ctx.prisma,
    ANONYMOUS,
    listing.entries.map((e) => e.id),
  );
  return {
    path: listing.path,
    entries: listing.entries.map((e) => ({ ...e, readable: (levels.get(e.id) ?? LEVEL.none) >= LEVEL.read })),
  };
}
