import { z } from "zod";
import {
  ZDeleteRequest,
  ZMkdirRequest,
  ZMoveRequest,
  ZRestoreTrashRequest,
  ZRestoreVersionRequest,
} from "@cumulus/protocol/api";
import { LEVEL } from "@cumulus/control/access/access";
import { listFolder, ZListQuery } from "@cumulus/control/fs/list";
import { statEntry, ZStatQuery } from "@cumulus/control/fs/stat";
import { mkdir } from "@cumulus/control/fs/mkdir";
import { moveEntry } from "@cumulus/control/fs/move";
import { deleteEntry } from "@cumulus/control/fs/delete";
import { listTrash, restoreFromTrash } from "@cumulus/control/fs/trash";
import { purgeEntry, ZPurgeRequest } from "@cumulus/control/fs/purge";
import { listVersions, restoreVersion, ZVersionsQuery } from "@cumulus/control/fs/versions";
import { whoami } from "@cumulus/control/fs/home";
import { lookup } from "@cumulus/control/fs/tree";
import { listAllEntries } from "@cumulus/control/fs/list-page";
import { searchByName, ZSearchQuery } from "@cumulus/control/search/search";
import { protectedProcedure, router } from "../trpc.ts";

type LevelName = "none" | "read" | "write" | "manage";
const LEVEL_NAMES: LevelName[] = ["none", "read", "write", "manage"];

/**
 * The file browser: thin wrappers over packages/control's namespace functions (the same
 * ones /api/v1 uses, so the access rules are identical), plus the caller's permission on
 * the folder shown so the UI can offer only what will work.
 */
export const filesRouter = router({
  home: protectedProcedure.query(async ({ ctx }) => ({ home: (await whoami(ctx.control, ctx.user)).home })),
  list: protectedProcedure.input(ZListQuery).query(async ({ ctx, input }) => {
    // A folder the user can read: one query. One they may only pass through: filtered listing.
    const all = await listAllEntries(ctx.control, ctx.user, input);
    if (all) {
      const { level, ...listing } = all;
      return { ...listing, permission: LEVEL_NAMES[level]!, total: listing.entries.length };
    }
    const [listing, l] = await Promise.all([
      listFolder(ctx.control, ctx.user, input),
      lookup(ctx.control.prisma, ctx.user, input.path),
    ]);
    const level = l.levels[l.levels.length - 1] ?? LEVEL.none;
    return { ...listing, permission: LEVEL_NAMES[level]!, total: listing.entries.length };
  }),
  stat: protectedProcedure.input(ZStatQuery).query(async ({ ctx, input }) => {
    const [stat, l] = await Promise.all([
      statEntry(ctx.control, ctx.user, input),
      lookup(ctx.control.prisma, ctx.user, input.path),
    ]);
    const level = l.levels[l.levels.length - 1] ?? LEVEL.none;
    return { ...stat, permission: LEVEL_NAMES[level]! };
  }),
  mkdir: protectedProcedure.input(ZMkdirRequest).mutation(({ ctx, input }) => mkdir(ctx.control, ctx.user, input)),
  move: protectedProcedure
    .input(ZMoveRequest)
    .mutation(({ ctx, input }) => moveEntry(ctx.control, ctx.user, input, { ip: ctx.ip })),
  delete: protectedProcedure
    .input(ZDeleteRequest)
    .mutation(({ ctx, input }) => deleteEntry(ctx.control, ctx.user, input, { ip: ctx.ip })),
  trash: protectedProcedure.query(({ ctx }) => listTrash(ctx.control, ctx.user)),
  restore: protectedProcedure
    .input(ZRestoreTrashRequest)
    .mutation(({ ctx, input }) => restoreFromTrash(ctx.control, ctx.user, input, { ip: ctx.ip })),
  purge: protectedProcedure
    .input(ZPurgeRequest)
    .mutation(({ ctx, input }) => purgeEntry(ctx.control, ctx.user, input, { ip: ctx.ip })),
  versions: protectedProcedure
    .input(ZVersionsQuery)
    .query(({ ctx, input }) => listVersions(ctx.control, ctx.user, input)),
  restoreVersion: protectedProcedure
    .input(ZRestoreVersionRequest)
    .mutation(({ ctx, input }) => restoreVersion(ctx.control, ctx.user, input, { ip: ctx.ip })),
  /** Paginated by `cursor` (an offset), so the UI can use an infinite query. */
  search: protectedProcedure
    .input(ZSearchQuery.extend({ q: z.string().max(255), cursor: z.number().int().min(0).nullish() }))
    .query(({ ctx, input }) => {
      const { cursor, ...rest } = input;
      if (rest.q.trim() === "") return { q: "", entries: [], nextOffset: null };
      return searchByName(ctx.control, ctx.user, { ...rest, offset: cursor ?? rest.offset });
    }),
});
