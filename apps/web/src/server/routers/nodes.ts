import { clusterOverview, usageHistory, ZUsageQuery } from "@cumulus/control/admin/overview";
import { nodeDetail, setNodeStatus, ZNodeId, ZSetNodeStatus } from "@cumulus/control/admin/nodes";
import { adminProcedure, router } from "../trpc.ts";

/** The admin dashboard and storage-node administration (admins only). */
export const nodesRouter = router({
  overview: adminProcedure.query(({ ctx }) => clusterOverview(ctx.control)),
  usage: adminProcedure.input(ZUsageQuery).query(({ ctx, input }) => usageHistory(ctx.control, input)),
  get: adminProcedure.input(ZNodeId).query(({ ctx, input }) => nodeDetail(ctx.control, input)),
  setStatus: adminProcedure
    .input(ZSetNodeStatus)
    .mutation(({ ctx, input }) => setNodeStatus(ctx.control, ctx.user, input, { ip: ctx.ip })),
});
