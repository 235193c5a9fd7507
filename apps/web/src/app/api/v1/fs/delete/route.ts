import { deleteEntry } from "@cumulus/control/fs/delete";
import { ctx } from "@/server/context.ts";
import { clientIp } from "@/server/auth.ts";
import { readJson, withUser } from "../../_lib/handler.ts";

export const POST = withUser("fs.delete", async (req, user) =>
  deleteEntry(ctx(), user, await readJson(req), { ip: clientIp(req) }),
);
