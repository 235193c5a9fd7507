import { getHealth } from "@cumulus/control/cluster/health";
import { publicProcedure, router } from "../trpc.ts";
import { sessionRouter } from "./session.ts";
import { usersRouter } from "./users.ts";
import { groupsRouter } from "./groups.ts";
import { nodesRouter } from "./nodes.ts";
import { auditRouter } from "./audit.ts";
import { ipRulesRouter } from "./ipRules.ts";
import { policiesRouter } from "./policies.ts";
import { filesRouter } from "./files.ts";
import { sharesRouter } from "./shares.ts";

// One router per domain (files, shares, nodes, policies, users, audit), combined here.
export const appRouter = router({
  health: publicProcedure.query(async ({ ctx }) => (await getHealth(ctx.control)).health),
  session: sessionRouter,
  users: usersRouter,
  groups: groupsRouter,
  nodes: nodesRouter,
  audit: auditRouter,
  ipRules: ipRulesRouter,
  policies: policiesRouter,
  files: filesRouter,
  shares: sharesRouter,
});

export type AppRouter = typeof appRouter;
