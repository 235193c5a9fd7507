import { HEADER_CLIENT_SITE } from "@cumulus/protocol/api";
import { planDownload } from "@cumulus/control/downloads/plan-download";
import { ctx } from "@/server/context.ts";
import { query, withUser } from "../_lib/handler.ts";

export const dynamic = "force-dynamic";

export const GET = withUser("downloads.plan", (req, user) =>
  planDownload(ctx(), user, query(req), { site: req.headers.get(HEADER_CLIENT_SITE) }),
);
