// Private folder (leading "_"): shared by the /api/v1 route handlers, never a route itself.
import type { AuthUser } from "@cumulus/control/access/access";
import { errorResponse } from "@/server/route.ts";
import { requireUser } from "@/server/auth.ts";

export function json(body: unknown, status = 200): Response {
  return Response.json(body, { status, headers: { "cache-control": "no-store" } });
}

/** Authenticates, runs `fn`, answers its result as JSON and every failure as ZErrorBody. */
export function withUser(
  where: string,
  fn: (req: Request, user: AuthUser) => Promise<unknown>,
): (req: Request) => Promise<Response> {
  return async (req) => {
    try {
      const user = await requireUser(req);
      return json(await fn(req, user));
    } catch (err) {
      return errorResponse(err, where);
    }
  };
}

/** Query parameters as a plain object, for the control functions' zod schemas. */
export function query(req: Request): Record<string, string> {
  return Object.fromEntries(new URL(req.url).searchParams);
}

/** The one body reader (server/route.ts), re-exported beside the other route helpers. */
export { readJson } from "@/server/route.ts";
