import { heartbeat } from "@cumulus/control/nodes/heartbeat";
import { ctx } from "@/server/context.ts";
import { errorResponse, readJson } from "@/server/route.ts";

export async function POST(req: Request): Promise<Response> {
  try {
    return Response.json(await heartbeat(ctx(), req.headers.get("authorization"), await readJson(req)));
  } catch (err) {
    return errorResponse(err, "nodes.heartbeat");
  }
}
