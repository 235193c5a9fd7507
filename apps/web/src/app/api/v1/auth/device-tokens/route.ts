import { createDeviceToken } from "@cumulus/control/auth/device-tokens";
import { ctx } from "@/server/context.ts";
import { errorResponse } from "@/server/route.ts";
import { clientIp } from "@/server/auth.ts";
import { json, readJson } from "../../_lib/handler.ts";

export async function POST(req: Request): Promise<Response> {
  try {
    const body = await readJson(req);
    return json(
      await createDeviceToken(ctx(), body, { ip: clientIp(req), userAgent: req.headers.get("user-agent") }),
      201,
    );
  } catch (err) {
    return errorResponse(err, "auth.device-tokens.create");
  }
}
