import { revokeCurrentDeviceToken } from "@cumulus/control/auth/device-tokens";
import { ctx } from "@/server/context.ts";
import { clientIp } from "@/server/auth.ts";
import { withUser } from "../../../_lib/handler.ts";

export const DELETE = withUser("auth.device-tokens.revoke", (req, user) =>
  revokeCurrentDeviceToken(ctx(), user, { ip: clientIp(req) }),
);
