import { whoami } from "@cumulus/control/fs/home";
import { ctx } from "@/server/context.ts";
import { withUser } from "../../_lib/handler.ts";

export const dynamic = "force-dynamic";

export const GET = withUser("auth.whoami", (_req, user) => whoami(ctx(), user));
