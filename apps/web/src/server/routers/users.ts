import {
  createUser,
  deleteUser,
  getUser,
  listUsers,
  resetPassword,
  revokeDeviceToken,
  setUserDisabled,
  setUserQuota,
  setUserRole,
  unlockUser,
  ZCreateUser,
  ZListUsers,
  ZResetPassword,
  ZRevokeDevice,
  ZSetDisabled,
  ZSetQuota,
  ZSetRole,
  ZUserId,
} from "@cumulus/control/users/users";
import { adminProcedure, router } from "../trpc.ts";

/** Account administration (admins only). */
export const usersRouter = router({
  list: adminProcedure.input(ZListUsers).query(({ ctx, input }) => listUsers(ctx.control, input)),
  get: adminProcedure.input(ZUserId).query(({ ctx, input }) => getUser(ctx.control, input)),
  create: adminProcedure
    .input(ZCreateUser)
    .mutation(({ ctx, input }) => createUser(ctx.control, ctx.user, input, { ip: ctx.ip })),
  setDisabled: adminProcedure
    .input(ZSetDisabled)
    .mutation(({ ctx, input }) => setUserDisabled(ctx.control, ctx.user, input, { ip: ctx.ip })),
  delete: adminProcedure
    .input(ZUserId)
    .mutation(({ ctx, input }) => deleteUser(ctx.control, ctx.user, input, { ip: ctx.ip })),
  resetPassword: adminProcedure
    .input(ZResetPassword)
    .mutation(({ ctx, input }) => resetPassword(ctx.control, ctx.user, input, { ip: ctx.ip })),
  setRole: adminProcedure
    .input(ZSetRole)
    .mutation(({ ctx, input }) => setUserRole(ctx.control, ctx.user, input, { ip: ctx.ip })),
  setQuota: adminProcedure
    .input(ZSetQuota)
    .mutation(({ ctx, input }) => setUserQuota(ctx.control, ctx.user, input, { ip: ctx.ip })),
  unlock: adminProcedure
    .input(ZUserId)
    .mutation(({ ctx, input }) => unlockUser(ctx.control, ctx.user, input, { ip: ctx.ip })),
  revokeDevice: adminProcedure
    .input(ZRevokeDevice)
    .mutation(({ ctx, input }) => revokeDeviceToken(ctx.control, ctx.user, input, { ip: ctx.ip })),
});
