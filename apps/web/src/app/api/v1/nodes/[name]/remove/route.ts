import { removeNode } from "@cumulus/control/nodes/drain-node";
import { ctx } from "@/server/context.ts";
import { errorResponse } from "@/server/route.ts";
import { clientIp, requireUser } from "@/server/auth.ts";
import { json } from "../../../_lib/handler.ts";

/**
 * POST /api/v1/nodes/:name/remove — decommission a node nothing needs any more (admins);
 * CONFLICT while it still holds needed copies (drain it and wait first).
 */
export async function POST(req: Request, route: { params: Promise<{ name: string }> }): Promise<Response> {
  try {
    const user = await requireUser(req);
    const { name } = await route.params;
    return json(await removeNode(ctx(), user, { node: decodeURIComponent(name) }, { ip: clientIp(req) }));
  } catch (err) {
    return errorResponse(err, "nodes.remove");
  }
}
