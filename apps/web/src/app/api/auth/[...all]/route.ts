import { getAuth, isSecureRequest } from "@cumulus/control/auth/better-auth";
import { ctx } from "@/server/context.ts";
import { errorResponse } from "@/server/route.ts";

export const dynamic = "force-dynamic";

/**
 * better-auth's endpoints (POST sign-in/email, POST sign-out, GET get-session; the rest
 * answer 404 — see packages/control/src/auth/better-auth.ts). The instance depends on
 * the protocol so the session cookie is `Secure` exactly when served over https.
 */
async function handler(req: Request): Promise<Response> {
  try {
    const auth = await getAuth(ctx(), { secure: isSecureRequest(req.headers, req.url) });
    return await auth.handler(req);
  } catch (err) {
    return errorResponse(err, "auth");
  }
}

export { handler as GET, handler as POST };
