import { listNodeStatuses } from "@cumulus/control/nodes/drain-node";
import { ctx } from "@/server/context.ts";
import { withUser } from "../_lib/handler.ts";

export const dynamic = "force-dynamic";

/** GET /api/v1/nodes — every storage node and how far it is from being able to leave (admins). */
export const GET = withUser("nodes.list", (_req, user) => listNodeStatuses(ctx(), user));
