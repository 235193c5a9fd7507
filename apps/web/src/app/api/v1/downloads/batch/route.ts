import { HEADER_CLIENT_SITE } from "@cumulus/protocol/api";
import { planDownloadBatch } from "@cumulus/control/downloads/plan-download-batch";
import { ctx } from "@/server/context.ts";
import { clientIp } from "@/server/auth.ts";
import { readJson, withUser } from "../../_lib/handler.ts";

export const POST = withUser("downloads.plan-batch", async (req, user) =>
  // Read tokens are bound to the caller's address (nodes refuse them from elsewhere).
  planDownloadBatch(ctx(), user, await readJson(req), {
    site: req.headers.get(HEADER_CLIENT_SITE),
    ip: clientIp(req),
  }),
);
