import { restoreFromTrash } from "@cumulus/control/fs/trash";
import { ctx } from "@/server/context.ts";
import { clientIp } from "@/server/auth.ts";
import { readJson, withUser } from "../../../_lib/handler.ts";

export const POST = withUser("fs.trash.restore", async (req, user) =>
  restoreFromTrash(ctx(), user, await readJson(req), { ip: clientIp(req) }),
);
