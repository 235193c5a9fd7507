import { drainNode } from "@cumulus/control/nodes/drain-node";
import { ctx } from "@/server/context.ts";
import { errorResponse } from "@/server/route.ts";
import { clientIp, requireUser } from "@/server/auth.ts";
import { json } from "../../../_lib/handler.ts";

/** POST /api/v1/nodes/:name/drain — move every chunk off the node (admins). */
export async function POST(req: Request, route: { params: Promise<{ name: string }> }): Promise<Response> {
  try {
    const user = await requireUser(req);
    const { name } = await route.params;
    return json(await drainNode(ctx(), user, { node: decodeURIComponent(name) }, { ip: clientIp(req) }));
  } catch (err) {
    return errorResponse(err, "nodes.drain");
  }
}
