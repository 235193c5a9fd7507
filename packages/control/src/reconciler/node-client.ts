import { AppError, ZErrorBody } from "@cumulus/protocol/errors";
import {
  ZInventoryPage,
  ZReplicateBatchResponse,
  type InventoryPage,
  type ReplicateBatchRequest,
  type ReplicateBatchResponse,
} from "@cumulus/protocol/node-api";

/**
 * The control plane's calls to storage nodes' data APIs (the reconciler's copies,
 * deletes and inventories). Every failure is an AppError; transport failures are
 * UNAVAILABLE so callers retry later.
 */

function base(url: string): string {
  return url.endsWith("/") ? url : `${url}/`;
}

async function call(
  method: string,
  url: URL,
  token: string,
  opts: { body?: unknown; timeoutMs: number; signal?: AbortSignal },
): Promise<{ status: number; json: unknown }> {
  const signals = [AbortSignal.timeout(opts.timeoutMs)];
  if (opts.signal) signals.push(opts.signal);
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(opts.body !== undefined ? { "content-type": "application/json" } : {}),
      },
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
      signal: AbortSignal.any(signals),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new AppError("UNAVAILABLE", `${method} ${url.origin}${url.pathname}: ${why}`);
  }
  const text = await res.text().catch(() => "");
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // status says enough
  }
  return { status: res.status, json };
}

function failure(status: number, json: unknown, what: string): AppError {
  if (ZErrorBody.safeParse(json).success) {
    const e = AppError.fromBody(json, status);
    return new AppError(e.code, `${what}: ${e.message}`, e.details);
  }
  return new AppError(status >= 500 ? "UNAVAILABLE" : "INTERNAL", `${what}: HTTP ${status}`);
}

/** Many chunks in one call (POST /replicate/batch); one result per item, in order. */
export async function replicateBatchOnNode(
  nodeUrl: string,
  token: string,
  body: ReplicateBatchRequest,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<ReplicateBatchResponse> {
  const url = new URL("replicate/batch", base(nodeUrl));
  const r = await call("POST", url, token, { body, timeoutMs, ...(signal ? { signal } : {}) });
  if (r.status !== 200) throw failure(r.status, r.json, `replicate batch on ${nodeUrl}`);
  const parsed = ZReplicateBatchResponse.safeParse(r.json);
  const ok =
    parsed.success &&
    parsed.data.results.length === body.items.length &&
    parsed.data.results.every((x, i) => x.chunk === body.items[i]!.chunk && (!x.ok || x.size === body.items[i]!.size));
  if (!ok) throw new AppError("INTERNAL", `replicate batch on ${nodeUrl}: invalid answer`);
  return parsed.data;
}

/** "modified": the node kept a copy written after the delete was decided. */
export async function deleteOnNode(
  nodeUrl: string,
  chunk: string,
  token: string,
  timeoutMs: number,
): Promise<"deleted" | "absent" | "modified"> {
  const url = new URL(`chunks/${chunk}`, base(nodeUrl));
  const r = await call("DELETE", url, token, { timeoutMs });
  if (r.status === 204) return "deleted";
  if (r.status === 404) return "absent";
  if (r.status === 409) return "modified";
  throw failure(r.status, r.json, `delete on ${nodeUrl}`);
}

/** Every chunk on a node, page by page (GET /inventory). */
export async function* inventoryOf(
  nodeUrl: string,
  token: string,
  opts: { limit?: number; timeoutMs: number },
): AsyncGenerator<InventoryPage["chunks"]> {
  let cursor: string | null = null;
  for (;;) {
    const url = new URL("inventory", base(nodeUrl));
    url.searchParams.set("limit", String(opts.limit ?? 5_000));
    if (cursor) url.searchParams.set("cursor", cursor);
    const r = await call("GET", url, token, { timeoutMs: opts.timeoutMs });
    if (r.status !== 200) throw failure(r.status, r.json, `inventory of ${nodeUrl}`);
    const page = ZInventoryPage.safeParse(r.json);
    if (!page.success) throw new AppError("INTERNAL", `inventory of ${nodeUrl}: invalid answer`);
    yield page.data.chunks;
    if (page.data.next === null) return;
    cursor = page.data.next;
  }
}
