import type { NextApiRequest, NextApiResponse } from "next";
import { AppError } from "@cumulus/protocol/errors";
import { gatewayForLink } from "@cumulus/control/gateway/gateway";
import { unlockShareLink } from "@cumulus/control/shares/links";
import { ctx } from "@/server/context.ts";
import { clientIp, optionalUser } from "@/server/auth.ts";
import { errorResponse } from "@/server/route.ts";
import { gatewaySite } from "@/app/api/gateway/site.ts";
import { linkCookieName, readCookie } from "@/app/api/gateway/link-cookie.ts";
import { readForm, sendWebResponse, webRequest } from "@/app/api/gateway/node-bridge.ts";

export const config = { api: { responseLimit: false, bodyParser: false, externalResolver: true } };

/**
 * GET/HEAD /api/gateway/s/<token>[?path=/inside][&download=1] — what a share link shares:
 * a file (Range-capable) or a folder's zip, or something inside a folder link. A password
 * link needs the grant cookie that POST sets.
 *
 * POST /api/gateway/s/<token> (form: password) — unlocks a password link for this browser:
 * an HttpOnly grant cookie, then 303 back to the link's page (with `?error=…` when wrong).
 */
export default async function handler(req: NextApiRequest, res: NextApiResponse): Promise<void> {
  const method = req.method ?? "GET";
  const token = typeof req.query.token === "string" ? req.query.token : "";
  const request = webRequest(req);
  let response: Response;
  try {
    // The IP rules hold for anonymous callers too (a denied address is refused here).
    await optionalUser(request);
    if (method === "POST") response = await unlock(req, request, token);
    else if (method === "GET" || method === "HEAD") {
      const grant = readCookie(request.headers.get("cookie"), linkCookieName(token));
      const q = Object.fromEntries(new URL(request.url).searchParams);
      delete q.token;
      response = await gatewayForLink(ctx(), { method, headers: request.headers }, token, grant, q, {
        ip: clientIp(request),
        site: gatewaySite(null),
      });
    } else {
      res.setHeader("allow", "GET, HEAD, POST");
      throw new AppError("BAD_REQUEST", `${method} is not allowed here`);
    }
  } catch (err) {
    response = errorResponse(err, "gateway.link");
  }
  await sendWebResponse(res, response, method);
}

async function unlock(req: NextApiRequest, request: Request, token: string): Promise<Response> {
  const page = `/s/${encodeURIComponent(token)}`;
  const back = (error?: string, headers: Record<string, string> = {}) =>
    new Response(null, {
      status: 303,
      headers: { location: error ? `${page}?error=${encodeURIComponent(error)}` : page, ...headers },
    });
  let password: string | null;
  try {
    password = (await readForm(req)).get("password");
  } catch {
    return back("Could not read the form: try again");
  }
  if (!password) return back("Enter the password");
  try {
    const { grant, maxAgeSeconds } = await unlockShareLink(ctx(), token, password, { ip: clientIp(request) });
    const secure = new URL(request.url).protocol === "https:";
    const cookie = [
      `${linkCookieName(token)}=${grant}`,
      "Path=/",
      `Max-Age=${maxAgeSeconds}`,
      "HttpOnly",
      "SameSite=Lax",
      ...(secure ? ["Secure"] : []),
    ].join("; ");
    return back(undefined, { "set-cookie": cookie });
  } catch (err) {
    if (err instanceof AppError && (err.code === "UNAUTHENTICATED" || err.code === "RATE_LIMITED"))
      return back(err.message);
    // Expired, revoked, unknown: the page explains it.
    if (err instanceof AppError && (err.code === "FORBIDDEN" || err.code === "NOT_FOUND")) return back();
    throw err;
  }
}
