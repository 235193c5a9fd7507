import type { NextApiRequest, NextApiResponse } from "next";
import { AppError } from "@cumulus/protocol/errors";
import { HEADER_CLIENT_SITE } from "@cumulus/protocol/api";
import type { AuthUser } from "@cumulus/control/access/access";
import { ANONYMOUS, gatewayForUser } from "@cumulus/control/gateway/gateway";
import { ctx } from "@/server/context.ts";
import { optionalUser } from "@/server/auth.ts";
import { errorResponse } from "@/server/route.ts";
import { gatewaySite } from "@/app/api/gateway/site.ts";
import { pathFromSegments } from "@/app/api/gateway/path-param.ts";
import { sendWebResponse, webRequest } from "@/app/api/gateway/node-bridge.ts";

// Streams of any length; no body parsing (GET/HEAD only).
export const config = { api: { responseLimit: false, bodyParser: false, externalResolver: true } };

/**
 * GET/HEAD /api/gateway/files/<path>[?version=N][&download=1] — a file with Range
 * support, or a folder as a streamed zip, for the signed-in user (session cookie or
 * device token) or, signed out, for public entries.
 */
export default async function handler(req: NextApiRequest, res: NextApiResponse): Promise<void> {
  const method = req.method ?? "GET";
  if (method !== "GET" && method !== "HEAD") {
    res.setHeader("allow", "GET, HEAD");
    return sendWebResponse(
      res,
      errorResponse(new AppError("BAD_REQUEST", `${method} is not allowed here`), "gateway.files"),
      method,
    );
  }
  const request = webRequest(req);
  let user: AuthUser | null = null;
  let response: Response;
  try {
    user = await optionalUser(request);
    const segments = req.query.path;
    const path = await pathFromSegments(
      user ?? ANONYMOUS,
      Array.isArray(segments) ? segments : segments ? [segments] : [],
    );
    const q = Object.fromEntries(new URL(request.url).searchParams);
    delete q.path;
    response = await gatewayForUser(ctx(), { method, headers: request.headers }, user, path, q, {
      site: gatewaySite(request.headers.get(HEADER_CLIENT_SITE)),
    });
  } catch (err) {
    // Signed out and nothing public there: say what would help.
    const e =
      !user && err instanceof AppError && err.code === "NOT_FOUND"
        ? new AppError("UNAUTHENTICATED", "sign in to download this")
        : err;
    response = errorResponse(e, "gateway.files");
  }
  await sendWebResponse(res, response, method);
}
