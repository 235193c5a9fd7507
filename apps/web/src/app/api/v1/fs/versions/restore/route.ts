import { restoreVersion } from "@cumulus/control/fs/versions";
import { ctx } from "@/server/context.ts";
import { clientIp } from "@/server/auth.ts";
import { readJsonUpTo, withUser } from "../../../_lib/handler.ts";

export const POST = withUser("fs.versions.restore", async (req, user) =>
  restoreVersion(ctx(), user, await readJsonUpTo(req), { ip: clientIp(req) }),
);
