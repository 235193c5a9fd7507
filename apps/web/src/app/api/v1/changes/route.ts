import { listChanges } from "@cumulus/control/changes/list-changes";
import { ctx } from "@/server/context.ts";
import { query, withUser } from "../_lib/handler.ts";

export const dynamic = "force-dynamic";

// Long-polls: the answer may be held up to `wait` seconds (at most 30); a client that
// goes away ends the wait early.
export const GET = withUser("changes", (req, user) => listChanges(ctx(), user, query(req), { signal: req.signal }));
