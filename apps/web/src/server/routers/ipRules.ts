import { z } from "zod";
import {
  createIpRule,
  deleteIpRule,
  listIpRules,
  testIpAddress,
  ZCreateIpRule,
  ZTestIp,
} from "@cumulus/control/ip-rules/ip-rules";
import { adminProcedure, router } from "../trpc.ts";

/** Sector's IP access control list (admins only). */
export const ipRulesRouter = router({
  list: adminProcedure.query(({ ctx }) => listIpRules(ctx.control)),
  create: adminProcedure
    .input(ZCreateIpRule)
    .mutation(({ ctx, input }) => createIpRule(ctx.control, ctx.user, input, { ip: ctx.ip })),
  delete: adminProcedure
    .input(z.object({ id: z.uuid() }))
    .mutation(({ ctx, input }) => deleteIpRule(ctx.control, ctx.user, input, { ip: ctx.ip })),
  test: adminProcedure.input(ZTestIp).query(({ ctx, input }) => testIpAddress(ctx.control, input)),
  /** The caller's own address, as the rules see it (pre-fills the test box). */
  myAddress: adminProcedure.query(({ ctx }) => ({ ip: ctx.ip })),
});
