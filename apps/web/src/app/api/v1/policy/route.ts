import { getPolicy, setPolicy } from "@cumulus/control/policies/policy";
import { ctx } from "@/server/context.ts";
import { clientIp } from "@/server/auth.ts";
import { query, readJson, withUser } from "../_lib/handler.ts";

export const dynamic = "force-dynamic";

export const GET = withUser("policy.get", (req, user) => getPolicy(ctx(), user, query(req)));

export const PUT = withUser("policy.set", async (req, user) =>
  setPolicy(ctx(), user, await readJson(req), { ip: clientIp(req) }),
);
