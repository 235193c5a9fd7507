import { beginUpload } from "@cumulus/control/uploads/begin-upload";
import { ctx } from "@/server/context.ts";
import { clientIp } from "@/server/auth.ts";
import { readJson, withUser } from "../_lib/handler.ts";

/** A manifest lists ~70 bytes per chunk: 64 MiB covers files of several hundred GiB. */
const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

export const POST = withUser("uploads.begin", async (req, user) =>
  // Write tokens are bound to the caller's address (the first node refuses them from elsewhere).
  beginUpload(ctx(), user, await readJson(req, MAX_MANIFEST_BYTES), new Date(), { ip: clientIp(req) }),
);
