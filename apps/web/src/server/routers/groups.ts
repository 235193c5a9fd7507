import {
  addGroupMember,
  createGroup,
  deleteGroup,
  getGroup,
  listGroups,
  removeGroupMember,
  ZCreateGroup,
  ZGroupId,
  ZMember,
} from "@cumulus/control/groups/groups";
import { adminProcedure, router } from "../trpc.ts";

/** Groups and their members (admins only). */
export const groupsRouter = router({
  list: adminProcedure.query(({ ctx }) => listGroups(ctx.control)),
  get: adminProcedure.input(ZGroupId).query(({ ctx, input }) => getGroup(ctx.control, input)),
  create: adminProcedure
    .input(ZCreateGroup)
    .mutation(({ ctx, input }) => createGroup(ctx.control, ctx.user, input, { ip: ctx.ip })),
  delete: adminProcedure
    .input(ZGroupId)
    .mutation(({ ctx, input }) => deleteGroup(ctx.control, ctx.user, input, { ip: ctx.ip })),
  addMember: adminProcedure
    .input(ZMember)
    .mutation(({ ctx, input }) => addGroupMember(ctx.control, ctx.user, input, { ip: ctx.ip })),
  removeMember: adminProcedure
    .input(ZMember)
    .mutation(({ ctx, input }) => removeGroupMember(ctx.control, ctx.user, input, { ip: ctx.ip })),
});
