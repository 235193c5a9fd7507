import { sysinfo } from "@cumulus/control/cluster/sysinfo";
import { ctx } from "@/server/context.ts";
import { withUser } from "../_lib/handler.ts";

export const dynamic = "force-dynamic";

export const GET = withUser("sysinfo", () => sysinfo(ctx()));
