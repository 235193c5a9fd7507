import { reportChunks } from "@cumulus/control/nodes/report-chunks";
import { ctx } from "@/server/context.ts";
import { errorResponse, readJson } from "@/server/route.ts";

/** A storage node reports corrupt or missing chunks (node JWT, like heartbeats). */
export async function POST(req: Request): Promise<Response> {
  try {
    return Response.json(await reportChunks(ctx(), req.headers.get("authorization"), await readJson(req)));
  } catch (err) {
    return errorResponse(err, "nodes.report");
  }
}
