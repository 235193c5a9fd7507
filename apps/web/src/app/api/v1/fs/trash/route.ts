import { listTrash } from "@cumulus/control/fs/trash";
import { ctx } from "@/server/context.ts";
import { withUser } from "../../_lib/handler.ts";

export const dynamic = "force-dynamic";

export const GET = withUser("fs.trash", (_req, user) => listTrash(ctx(), user));
