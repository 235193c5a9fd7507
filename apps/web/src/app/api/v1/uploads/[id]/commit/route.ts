import { commitUpload } from "@cumulus/control/uploads/commit-upload";
import { ctx } from "@/server/context.ts";
import { errorResponse } from "@/server/route.ts";
import { clientIp, requireUser } from "@/server/auth.ts";
import { json, readJson } from "../../../_lib/handler.ts";

/** Receipts are ~300 bytes each, one per replica of every uploaded chunk. */
const MAX_RECEIPTS_BYTES = 64 * 1024 * 1024;

export async function POST(req: Request, route: { params: Promise<{ id: string }> }): Promise<Response> {
  try {
    const user = await requireUser(req);
    const { id } = await route.params;
    return json(await commitUpload(ctx(), user, id, await readJson(req, MAX_RECEIPTS_BYTES), { ip: clientIp(req) }));
  } catch (err) {
    return errorResponse(err, "uploads.commit");
  }
}
