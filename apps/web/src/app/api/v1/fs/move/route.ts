import { moveEntry } from "@cumulus/control/fs/move";
import { ctx } from "@/server/context.ts";
import { clientIp } from "@/server/auth.ts";
import { readJson, withUser } from "../../_lib/handler.ts";

export const POST = withUser("fs.move", async (req, user) =>
  moveEntry(ctx(), user, await readJson(req), { ip: clientIp(req) }),
);
