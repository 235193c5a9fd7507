import { AppError } from "@cumulus/protocol/errors";
import { formatPath } from "@cumulus/protocol/paths";
import { ZMkdirRequest, type Entry as ApiEntry } from "@cumulus/protocol/api";
import type { Prisma } from "@cumulus/db/client";
import type { ControlContext } from "../context.ts";
import { LEVEL, type AuthUser } from "../access/access.ts";
import { recordChanges, type ChangeInput } from "../changes/record.ts";
import { ENTRY_INCLUDE, forbidden, lookup, missingError, toApiEntry, TX_OPTIONS } from "./tree.ts";

export type MadeFolder = { id: string; path: string; created: number };

/**
 * Creates the folder at `rawPath` (and, with `parents`, every missing folder above it)
 * in one transaction with its change-feed rows. Concurrent creators of the same folder
 * meet on the unique live-name index: one inserts, the others find its row.
 */
export async function makeFolders(
  ctx: ControlContext,
  user: AuthUser,
  rawPath: string,
  opts: { parents: boolean; mustCreate: boolean },
): Promise<MadeFolder> {
  const l = await lookup(ctx.prisma, user, rawPath);
  const existing = l.chain.length - 1;
  const deepestId = l.chain[l.chain.length - 1]!;
  if (existing === l.parts.length) {
    const e = await ctx.prisma.entry.findUniqueOrThrow({ where: { id: deepestId }, select: { type: true } });
    if (opts.mustCreate || e.type !== "folder") {
      throw new AppError("ALREADY_EXISTS", `${l.path} already exists${e.type === "file" ? " (as a file)" : ""}`);
    }
    return { id: deepestId, path: l.path, created: 0 };
  }
  const deepest = await ctx.prisma.entry.findUniqueOrThrow({ where: { id: deepestId }, select: { type: true } });
  if (deepest.type !== "folder") throw await missingError(ctx.prisma, l);
  const missing = l.parts.slice(existing);
  if (missing.length > 1 && !opts.parents) {
    throw new AppError(
      "NOT_FOUND",
      `parent folder ${formatPath(l.parts.slice(0, -1))} does not exist: create it first or pass parents`,
    );
  }
  const deepestPath = formatPath(l.parts.slice(0, existing));
  if (l.levels[l.levels.length - 1]! < LEVEL.write) throw forbidden(deepestPath, "write");

  return ctx.prisma.$transaction(async (tx) => {
    await lockLiveFolder(tx, deepestId, deepestPath);
    let parentId = deepestId;
    const changes: ChangeInput[] = [];
    for (let i = 0; i < missing.length; i++) {
      const name = missing[i]!;
      const isLast = i === missing.length - 1;
      const { count } = await tx.entry.createMany({
        data: [{ parentId, name, liveName: name, type: "folder", ownerId: user.id }],
        skipDuplicates: true,
      });
      const row = await tx.entry.findFirst({ where: { parentId, liveName: name }, select: { id: true, type: true } });
      const here = formatPath(l.parts.slice(0, existing + i + 1));
      if (!row) throw new AppError("CONFLICT", `${here} changed while it was being created: try again`);
      if (count === 0) {
        if (row.type !== "folder") throw new AppError("ALREADY_EXISTS", `${here} already exists (as a file)`);
        if (isLast && opts.mustCreate) throw new AppError("ALREADY_EXISTS", `${here} already exists`);
      } else {
        changes.push({ kind: "create", entryId: row.id, parentId, name, type: "folder", actorId: user.id });
      }
      parentId = row.id;
    }
    await recordChanges(tx, changes);
    return { id: parentId, path: l.path, created: changes.length };
  }, TX_OPTIONS);
}

/**
 * Locks a folder against being trashed or moved until the transaction ends and checks it
 * is still live; a mutation that adds to it must not land in a folder deleted meanwhile.
 */
export async function lockLiveFolder(tx: Prisma.TransactionClient, id: string, path: string): Promise<void> {
  const rows = await tx.$queryRaw<{ type: string; live: boolean }[]>`
    SELECT type::text AS type, ("liveName" IS NOT NULL) AS live FROM "Entry" WHERE id = ${id}::uuid FOR SHARE`;
  const row = rows[0];
  if (!row || !row.live) throw new AppError("CONFLICT", `${path} was moved or deleted meanwhile: try again`);
  if (row.type !== "folder") throw new AppError("BAD_REQUEST", `${path} is a file, not a folder`);
}

/** POST /api/v1/fs/mkdir */
export async function mkdir(ctx: ControlContext, user: AuthUser, input: unknown): Promise<ApiEntry> {
  const req = ZMkdirRequest.parse(input);
  const made = await makeFolders(ctx, user, req.path, { parents: req.parents, mustCreate: !req.parents });
  const entry = await ctx.prisma.entry.findUniqueOrThrow({ where: { id: made.id }, include: ENTRY_INCLUDE });
  return toApiEntry(entry, made.path);
}
