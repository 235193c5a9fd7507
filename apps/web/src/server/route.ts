import { ZodError } from "zod";
import { AppError } from "@cumulus/protocol/errors";
import { ctx } from "./context.ts";

/** Largest JSON body any control-plane route accepts. */
export const MAX_JSON_BYTES = 1024 * 1024;

/**
 * Maps every failure of a route handler to the one JSON error shape. Unknown errors are
 * logged with context and answered without internals.
 */
export function errorResponse(err: unknown, where: string): Response {
  if (err instanceof AppError) return Response.json(err.toBody(), { status: err.httpStatus });
  if (err instanceof ZodError) {
    const first = err.issues[0];
    const at = first?.path.length ? `${first.path.join(".")}: ` : "";
    const e = new AppError("BAD_REQUEST", `invalid request: ${at}${first?.message ?? "malformed"}`);
    return Response.json(e.toBody(), { status: 400 });
  }
  ctx().log.error({ err, where }, "unhandled error");
  return Response.json(new AppError("INTERNAL", "internal error: see the control plane's log").toBody(), {
    status: 500,
  });
}

/**
 * Reads a JSON body of at most `maxBytes`, counting bytes as they arrive so an oversized
 * body is refused without buffering it (a manifest of a very large file needs more than
 * the default; nothing else does).
 */
export async function readJson(req: Request, maxBytes = MAX_JSON_BYTES): Promise<unknown> {
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
