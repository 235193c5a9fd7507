import { AppError } from "@cumulus/protocol/errors";
import { ZPutChunkResponse } from "@cumulus/protocol/node-api";
import { describeCause, errorFromResponse, joinUrl, parseJson, withTimeout, type FetchFn } from "./http.ts";

/** A storage node as the control plane names it in pipelines and replica lists. */
export interface NodeRef {
  node: string;
  site: string;
  url: string;
  /** host:port of the node's UDT listener (used only by the Node-only UDT transport). */
  udt?: string | undefined;
}

export type HashFn = (bytes: Uint8Array) => string | Promise<string>;

export interface ChunkRequestOptions {
  signal?: AbortSignal | undefined;
  /** Whole-request timeout (default 120 s: a 4 MiB chunk over a slow WAN link). */
  timeoutMs?: number;
  /**
   * GET only: a buffer the chunk may be received into (a view of it is returned) when it
   * is at least `size` bytes long, so callers can reuse one per slot. Transports may
   * ignore it and return a fresh buffer; the fetch path does.
   */
  into?: Uint8Array | undefined;
}

const DEFAULT_CHUNK_TIMEOUT_MS = 120_000;

/**
 * How chunk bytes move to and from nodes: `putChunk`/`fetchChunk` below (HTTP) by default;
 * Node clients may pass the UDT transport (`node/udt-transport`), which falls back to these.
 */
export interface ChunkIo {
  putChunk: typeof putChunk;
  fetchChunk: typeof fetchChunk;
}

function nodeLabel(n: NodeRef): string {
  return `storage node ${n.node} (${n.site})`;
}

function unreachable(n: NodeRef, err: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted) return signal.reason;
  if (err instanceof Error && err.name === "TimeoutError")
    return new AppError("UNAVAILABLE", `${nodeLabel(n)} at ${n.url} timed out`);
  return new AppError("UNAVAILABLE", `cannot reach ${nodeLabel(n)} at ${n.url}: ${describeCause(err)}`);
}

function withNode(n: NodeRef, err: AppError): AppError {
  return err.message.includes(n.node) ? err : new AppError(err.code, `${nodeLabel(n)}: ${err.message}`, err.details);
}

/**
 * PUTs one chunk to the first node of its write pipeline; that node forwards it along the
 * rest. Resolves with one receipt per node of the pipeline.
 */
export async function putChunk(
  fetchFn: FetchFn,
  first: NodeRef,
  token: string,
  id: string,
  data: Uint8Array,
  opts: ChunkRequestOptions = {},
): Promise<string[]> {
  const url = joinUrl(first.url, `chunks/${id}`);
  let res: Response;
  try {
    res = await fetchFn(url, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
      // Cast: TS's BodyInit excludes views over a possibly-shared buffer; ours never are.
      body: data as Uint8Array<ArrayBuffer>,
      signal: withTimeout(opts.signal, opts.timeoutMs ?? DEFAULT_CHUNK_TIMEOUT_MS),
      credentials: "omit",
    });
  } catch (err) {
    throw unreachable(first, err, opts.signal);
  }
  if (!res.ok) throw withNode(first, await errorFromResponse(res, `PUT chunk ${id.slice(0, 12)}`));
  const body = await parseJson(res, ZPutChunkResponse, `${nodeLabel(first)}: PUT chunk ${id.slice(0, 12)}`);
  if (body.chunk !== id || body.size !== data.length) {
    throw new AppError(
      "INTERNAL",
      `${nodeLabel(first)} acknowledged chunk ${body.chunk.slice(0, 12)} (${body.size} bytes) for ${id.slice(0, 12)} (${data.length} bytes)`,
    );
  }
  return body.receipts;
}

/**
 * GETs one chunk from one replica and verifies length and SHA-256 before handing it out,
 * so corrupt bytes never leave this function. Reads at most `size` bytes: a misbehaving
 * node cannot make the client buffer more than one chunk.
 */
export async function fetchChunk(
  fetchFn: FetchFn,
  replica: NodeRef,
  token: string,
  id: string,
  size: number,
  hash: HashFn,
  opts: ChunkRequestOptions = {},
): Promise<Uint8Array> {
  const url = joinUrl(replica.url, `chunks/${id}`);
  const signal = withTimeout(opts.signal, opts.timeoutMs ?? DEFAULT_CHUNK_TIMEOUT_MS);
  let res: Response;
  try {
    res = await fetchFn(url, { headers: { authorization: `Bearer ${token}` }, signal, credentials: "omit" });
  } catch (err) {
    throw unreachable(replica, err, opts.signal);
  }
  if (!res.ok) throw withNode(replica, await errorFromResponse(res, `GET chunk ${id.slice(0, 12)}`));
  const buf = new Uint8Array(size);
  let got = 0;
  const short = () =>
    new AppError("TRUNCATED", `${nodeLabel(replica)} sent ${got} of ${size} bytes of chunk ${id.slice(0, 12)}`);
  if (!res.body) throw short();
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (got + value.length > size) {
        throw new AppError(
          "HASH_MISMATCH",
          `${nodeLabel(replica)} sent more than the ${size} bytes of chunk ${id.slice(0, 12)}`,
        );
      }
      buf.set(value, got);
      got += value.length;
    }
  } catch (err) {
    void reader.cancel().catch(() => undefined);
    if (err instanceof AppError) throw err;
    if (opts.signal?.aborted) throw opts.signal.reason;
    // The node stops mid-body when its own read-verification finds the stored copy corrupt.
    throw new AppError(
      "TRUNCATED",
      `${nodeLabel(replica)} broke off chunk ${id.slice(0, 12)} after ${got} of ${size} bytes: ${describeCause(err)}`,
    );
  }
  if (got !== size) throw short();
  const actual = await hash(buf);
  if (actual !== id) {
    throw new AppError(
      "HASH_MISMATCH",
      `${nodeLabel(replica)} returned corrupt data for chunk ${id.slice(0, 12)} (SHA-256 ${actual.slice(0, 12)})`,
    );
  }
  return buf;
}

/**
 * How an upload reacts to a failed chunk PUT: `retry` the same pipeline after a pause,
 * `restart` with a fresh beginUpload (new token, possibly another pipeline), or give up.
 */
export function putFailureKind(err: unknown): "retry" | "restart" | "fatal" {
  if (!(err instanceof AppError)) return "fatal";
  // HASH_MISMATCH is retried: either the bytes were verified against the id before
  // sending, so the node saw damage in transit, which a resend fixes, or they were sent on
  // the source's word (readKnown), and the retry hashes them first (upload.ts).
  switch (err.code) {
    case "UNAVAILABLE":
    case "RATE_LIMITED":
    case "TRUNCATED":
    case "INTERNAL":
    case "HASH_MISMATCH":
      return "retry";
    case "TOKEN_EXPIRED":
    case "UNAUTHENTICATED":
    case "FORBIDDEN":
    case "STALE_EPOCH":
    case "DISK_FULL":
      return "restart";
    default:
      return "fatal";
  }
}
