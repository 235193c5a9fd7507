import { registerNode } from "@cumulus/control/nodes/register-node";
import { ctx } from "@/server/context.ts";
import { errorResponse, readJson } from "@/server/route.ts";

export async function POST(req: Request): Promise<Response> {
  try {
    return Response.json(await registerNode(ctx(), await readJson(req)));
  } catch (err) {
    return errorResponse(err, "nodes.register");
  }
}
