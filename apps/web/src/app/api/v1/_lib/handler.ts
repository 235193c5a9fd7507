// Private folder (leading "_"): shared by the /api/v1 route handlers, never a route itself.
import { AppError } from "@cumulus/protocol/errors";
import type { AuthUser } from "@cumulus/control/access/access";
import { errorResponse, MAX_JSON_BYTES } from "@/server/route.ts";
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

/**
 * Reads a JSON body of at most `maxBytes`, counting bytes as they arrive so an oversized
 * body is refused without buffering it (a manifest of a very large file needs more than
 * the default; nothing else does).
 */
export async function readJsonUpTo(req: Request, maxBytes = MAX_JSON_BYTES): Promise<unknown> {
  const tooLarge = () => new AppError("PAYLOAD_TOO_LARGE", `request body over ${maxBytes} bytes`);
  const declared = Number(req.headers.get("content-length") ?? "0");
  if (declared > maxBytes) throw tooLarge();
  if (!req.body) throw new AppError("BAD_REQUEST", "a JSON request body is required");
  const reader = req.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    parts.push(value);
  }
  const text = Buffer.concat(parts).toString("utf8");
  try {
    return JSON.parse(text);
  } catch {
    throw new AppError("BAD_REQUEST", "request body is not valid JSON");
  }
}
