import { ZSetPolicyRequest } from "@cumulus/protocol/api";
import { listFolder, ZListQuery } from "@cumulus/control/fs/list";
import { getPolicy, setPolicy, ZPolicyQuery } from "@cumulus/control/policies/policy";
import { inspectPlacement, placementChoices, ZInspectQuery } from "@cumulus/control/admin/placement";
import { listPublicEntries, setEntryPublic, ZSetPublic } from "@cumulus/control/admin/public";
import { adminProcedure, protectedProcedure, router } from "../trpc.ts";

/**
 * Replication policies. Reading and setting follow the namespace's rule (read to see,
 * manage to set: owners, ACL managers, admins); the placement inspection, the pickers
 * and the public area are admin pages.
 */
export const policiesRouter = router({
  get: protectedProcedure.input(ZPolicyQuery).query(({ ctx, input }) => getPolicy(ctx.control, ctx.user, input)),
  set: protectedProcedure
    .input(ZSetPolicyRequest)
    .mutation(({ ctx, input }) => setPolicy(ctx.control, ctx.user, input, { ip: ctx.ip })),
  inspect: adminProcedure
    .input(ZInspectQuery)
    .query(({ ctx, input }) => inspectPlacement(ctx.control, ctx.user, input)),
  choices: adminProcedure.query(({ ctx }) => placementChoices(ctx.control)),
  /** Folder browsing for the admin path picker. */
  browse: adminProcedure.input(ZListQuery).query(({ ctx, input }) => listFolder(ctx.control, ctx.user, input)),
  publicEntries: adminProcedure.query(({ ctx }) => listPublicEntries(ctx.control)),
  setPublic: adminProcedure
    .input(ZSetPublic)
    .mutation(({ ctx, input }) => setEntryPublic(ctx.control, ctx.user, input, { ip: ctx.ip })),
});
