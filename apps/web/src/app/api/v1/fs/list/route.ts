import { listFolder } from "@cumulus/control/fs/list";
import { ctx } from "@/server/context.ts";
import { query, withUser } from "../../_lib/handler.ts";

export const dynamic = "force-dynamic";

export const GET = withUser("fs.list", (req, user) => listFolder(ctx(), user, query(req)));
