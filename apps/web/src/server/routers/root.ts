import { getHealth } from "@cumulus/control/cluster/health";
import { publicProcedure, router } from "../trpc.ts";

// One router per domain (files, shares, nodes, policies, users, audit), combined here.
export const appRouter = router({
  health: publicProcedure.query(async ({ ctx }) => (await getHealth(ctx.control)).health),
});

export type AppRouter = typeof appRouter;
