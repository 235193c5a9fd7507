import { moveEntry } from "@cumulus/control/fs/move";
import { ctx } from "@/server/context.ts";
import { clientIp } from "@/server/auth.ts";
import { readJsonUpTo, withUser } from "../../_lib/handler.ts";

export const POST = withUser("fs.move", async (req, user) =>
  moveEntry(ctx(), user, await readJsonUpTo(req), { ip: clientIp(req) }),
);
