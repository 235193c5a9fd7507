import { fsTree } from "@cumulus/control/fs/snapshot";
import { ctx } from "@/server/context.ts";
import { query, withUser } from "../../_lib/handler.ts";

export const dynamic = "force-dynamic";

// A sync agent's snapshot of a folder it follows with the change feed.
export const GET = withUser("fs.tree", (req, user) => fsTree(ctx(), user, query(req)));
