import { z } from "zod";
import {
  changePassword,
  listMyDevices,
  listMySessions,
  me,
  signOutEverywhere,
  ZChangePassword,
} from "@cumulus/control/users/account";
import { revokeDeviceToken, ZRevokeDevice } from "@cumulus/control/users/users";
import { protectedProcedure, publicProcedure, router } from "../trpc.ts";

/** The signed-in user's own account: who am I, password, sessions, devices. */
export const sessionRouter = router({
  /** Who is signed in, or null (never an error for a signed-out caller). */
  current: publicProcedure.query(({ ctx }) => (ctx.user ? me(ctx.control, ctx.user) : null)),
  me: protectedProcedure.query(({ ctx }) => me(ctx.control, ctx.user)),
  changePassword: protectedProcedure
    .input(ZChangePassword)
    .mutation(({ ctx, input }) => changePassword(ctx.control, ctx.user, input, { ip: ctx.ip })),
  sessions: protectedProcedure.query(({ ctx }) => listMySessions(ctx.control, ctx.user)),
  signOutEverywhere: protectedProcedure
    .input(z.object({}).optional())
    .mutation(({ ctx }) => signOutEverywhere(ctx.control, ctx.user, { ip: ctx.ip })),
  devices: protectedProcedure.query(({ ctx }) => listMyDevices(ctx.control, ctx.user)),
  revokeDevice: protectedProcedure
    .input(ZRevokeDevice)
    .mutation(({ ctx, input }) => revokeDeviceToken(ctx.control, ctx.user, input, { ip: ctx.ip })),
});
