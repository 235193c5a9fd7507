import { beginUploadBatch } from "@cumulus/control/uploads/batch";
import { ctx } from "@/server/context.ts";
import { clientIp } from "@/server/auth.ts";
import { readJson, withUser } from "../../_lib/handler.ts";

/** Batches are for runs of small files: 500 manifests of a few chunks each fit easily. */
const MAX_BATCH_BYTES = 16 * 1024 * 1024;

export const POST = withUser("uploads.begin-batch", async (req, user) =>
  beginUploadBatch(ctx(), user, await readJson(req, MAX_BATCH_BYTES), new Date(), { ip: clientIp(req) }),
);
