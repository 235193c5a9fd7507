import { HEADER_CLIENT_SITE } from "@cumulus/protocol/api";
import { planDownload } from "@cumulus/control/downloads/plan-download";
import { ctx } from "@/server/context.ts";
import { clientIp } from "@/server/auth.ts";
import { query, withUser } from "../_lib/handler.ts";

export const dynamic = "force-dynamic";

export const GET = withUser("downloads.plan", (req, user) =>
  // Read tokens are bound to the caller's address (nodes refuse them from elsewhere).
  planDownload(ctx(), user, query(req), { site: req.headers.get(HEADER_CLIENT_SITE), ip: clientIp(req) }),
);
