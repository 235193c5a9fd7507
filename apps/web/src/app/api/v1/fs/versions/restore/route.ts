import { restoreVersion } from "@cumulus/control/fs/versions";
import { ctx } from "@/server/context.ts";
import { clientIp } from "@/server/auth.ts";
import { readJson, withUser } from "../../../_lib/handler.ts";

export const POST = withUser("fs.versions.restore", async (req, user) =>
  restoreVersion(ctx(), user, await readJson(req), { ip: clientIp(req) }),
);
