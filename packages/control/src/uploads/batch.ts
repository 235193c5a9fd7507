import { ZodError } from "zod";
import {
  ZBeginUploadBatchRequest,
  ZCommitUploadBatchRequest,
  type BeginUploadBatchResponse,
  type CommitUploadBatchResponse,
} from "@cumulus/protocol/api";
import { AppError, type ErrorBody } from "@cumulus/protocol/errors";
import type { ControlContext } from "../context.ts";
import type { AuthUser } from "../access/access.ts";
import { beginUpload } from "./begin-upload.ts";
import { commitUpload } from "./commit-upload.ts";

// Many small files cost the sync agent two control-plane requests each; these take a whole
// run of them in one request. Every item goes through exactly the single-file function
// (ACL, quota, names, dedup, baseVersion conflicts, receipts), in order, each with its own
// transaction, so one bad file gets its own error and the others still go through. Only a
// failure that is not about the item (the database is down, a bug) fails the whole request.

type ItemError = ErrorBody["error"];

function itemError(err: unknown): ItemError {
  if (err instanceof AppError) return err.toBody().error;
  if (err instanceof ZodError) {
    const first = err.issues[0];
    const at = first?.path.length ? `${first.path.join(".")}: ` : "";
    return { code: "BAD_REQUEST", message: `invalid request: ${at}${first?.message ?? "malformed"}` };
  }
  throw err;
}

/** POST /api/v1/uploads/batch — beginUpload for every item; results in item order. */
export async function beginUploadBatch(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  now = new Date(),
  opts: { ip?: string | null } = {},
): Promise<BeginUploadBatchResponse> {
  const req = ZBeginUploadBatchRequest.parse(input);
  const results: BeginUploadBatchResponse["results"] = [];
  for (const item of req.uploads) {
    try {
      results.push({ ok: true, value: await beginUpload(ctx, user, item, now, opts) });
    } catch (err) {
      results.push({ ok: false, error: itemError(err) });
    }
  }
  return { results };
}

/** POST /api/v1/uploads/batch/commit — commitUpload for every item; results in item order. */
export async function commitUploadBatch(
  ctx: ControlContext,
  user: AuthUser,
  input: unknown,
  meta: { ip?: string | null; now?: Date } = {},
): Promise<CommitUploadBatchResponse> {
  const req = ZCommitUploadBatchRequest.parse(input);
  const results: CommitUploadBatchResponse["results"] = [];
  for (const item of req.commits) {
    try {
      results.push({
        ok: true,
        value: await commitUpload(ctx, user, item.uploadId, { receipts: item.receipts }, meta),
      });
    } catch (err) {
      results.push({ ok: false, error: itemError(err) });
    }
  }
  return { results };
}
