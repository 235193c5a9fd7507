import { getNodeStatus } from "@cumulus/control/nodes/drain-node";
import { ctx } from "@/server/context.ts";
import { errorResponse } from "@/server/route.ts";
import { requireUser } from "@/server/auth.ts";
import { json } from "../../_lib/handler.ts";

export const dynamic = "force-dynamic";

/** GET /api/v1/nodes/:name — drain progress of one node (admins). */
export async function GET(req: Request, route: { params: Promise<{ name: string }> }): Promise<Response> {
  try {
    const user = await requireUser(req);
    const { name } = await route.params;
    return json(await getNodeStatus(ctx(), user, { node: decodeURIComponent(name) }));
  } catch (err) {
    return errorResponse(err, "nodes.get");
  }
}
