import { mkdir } from "@cumulus/control/fs/mkdir";
import { ctx } from "@/server/context.ts";
import { readJson, withUser } from "../../_lib/handler.ts";

export const POST = withUser("fs.mkdir", async (req, user) => mkdir(ctx(), user, await readJson(req)));
