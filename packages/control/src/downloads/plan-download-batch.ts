import { ZodError } from "zod";
import { ZDownloadPlanBatchRequest, type DownloadPlanBatchResponse } from "@cumulus/protocol/api";
import { AppError } from "@cumulus/protocol/errors";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { mapInOrder } from "../uploads/batch.ts";
import { planDownload } from "./plan-download.ts";

/**
 * POST /api/v1/downloads/batch — planDownload for every file (a few at a time, results in order): the same access
 * checks and capabilities as one by one, in one request for a run of small files. A file
 * that cannot be read gets its own error; only a failure not about an item fails the request.
 */
export async function planDownloadBatch(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  opts: { site?: string | null; now?: Date; ip?: string | null } = {},
): Promise<DownloadPlanBatchResponse> {
  const req = ZDownloadPlanBatchRequest.parse(input);
  const results: DownloadPlanBatchResponse["results"] = await mapInOrder(req.files, async (f) => {
    try {
      return { ok: true as const, value: await planDownload(ctx, user, f, opts) };
    } catch (err) {
      if (err instanceof AppError) return { ok: false as const, error: err.toBody().error };
      if (err instanceof ZodError) {
        const message = `invalid request: ${err.issues[0]?.message}`;
        return { ok: false as const, error: { code: "BAD_REQUEST" as const, message } };
      }
      throw err;
    }
  });
  return { results };
}
