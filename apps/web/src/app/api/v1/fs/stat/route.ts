import { statEntry } from "@cumulus/control/fs/stat";
import { ctx } from "@/server/context.ts";
import { query, withUser } from "../../_lib/handler.ts";

export const dynamic = "force-dynamic";

export const GET = withUser("fs.stat", (req, user) => statEntry(ctx(), user, query(req)));
