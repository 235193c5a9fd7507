import { listVersions } from "@cumulus/control/fs/versions";
import { ctx } from "@/server/context.ts";
import { query, withUser } from "../../_lib/handler.ts";

export const dynamic = "force-dynamic";

export const GET = withUser("fs.versions", (req, user) => listVersions(ctx(), user, query(req)));
