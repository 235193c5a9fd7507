import { commitUploadBatch } from "@cumulus/control/uploads/batch";
import { ctx } from "@/server/context.ts";
import { clientIp } from "@/server/auth.ts";
import { readJson, withUser } from "../../../_lib/handler.ts";

/** Receipts are ~300 bytes per replica of each chunk: 500 small files fit easily. */
const MAX_BATCH_BYTES = 16 * 1024 * 1024;

export const POST = withUser("uploads.commit-batch", async (req, user) =>
  commitUploadBatch(ctx(), user, await readJson(req, MAX_BATCH_BYTES), { ip: clientIp(req) }),
);
