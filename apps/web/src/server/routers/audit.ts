import { auditActions, listAuditEvents, ZAuditQuery } from "@cumulus/control/audit/queries";
import { adminProcedure, router } from "../trpc.ts";

/** The audit log (admins only). */
export const auditRouter = router({
  list: adminProcedure.input(ZAuditQuery).query(({ ctx, input }) => listAuditEvents(ctx.control, input)),
  actions: adminProcedure.query(({ ctx }) => auditActions(ctx.control)),
});
