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
// (ACL, quota, names, dedup, baseVersion conflicts, receipts), a few at a time, each with its
// own transaction, so one bad file gets its own error and the others still go through. Only a
// failure that is not about the item (the database is down, a bug) fails the whole request.

type ItemError = ErrorBody["error"];

/**
 * Items handled at once: each is its own transaction, so a few side by side use the database
 * pool instead of leaving a batch's latency at the sum of its items. Results keep item order.
 */
export const BATCH_ITEM_CONCURRENCY = 4;

export async function mapInOrder<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const k = next++;
      out[k] = await fn(items[k]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(BATCH_ITEM_CONCURRENCY, items.length) }, worker));
  return out;
}

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
  const results: BeginUploadBatchResponse["results"] = await mapInOrder(req.uploads, async (item) => {
    try {
      return { ok: true as const, value: await beginUpload(ctx, user, item, now, opts) };
    } catch (err) {
      return { ok: false as const, error: itemError(err) };
    }
  });
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
  const results: CommitUploadBatchResponse["results"] = await mapInOrder(req.commits, async (item) => {
    try {
      return {
        ok: true as const,
        value: await commitUpload(ctx, user, item.uploadId, { receipts: item.receipts }, meta),
      };
    } catch (err) {
      return { ok: false as const, error: itemError(err) };
    }
  });
  return { results };
}
