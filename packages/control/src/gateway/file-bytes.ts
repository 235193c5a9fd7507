import type { ChunkSource } from "./chunk-source.ts";
import type { ByteRange } from "./http.ts";

export type VersionChunkRef = { chunkId: string; offset: number; size: number };

/** Chunks read ahead of the one being sent: enough to hide a node's latency, bounded memory. */
export const DEFAULT_PREFETCH = 3;

/**
 * The bytes `range` (inclusive; null: all) of a file version, in order. Only chunks that
 * overlap the range are fetched; the first and last may be partial (node Range reads).
 * Up to `prefetch` chunks are in flight ahead of the consumer; stopping the iteration
 * (or `signal`) cancels them.
 */
export async function* fileBytes(
  source: ChunkSource,
  chunks: readonly VersionChunkRef[],
  range: ByteRange | null,
  opts: { prefetch?: number; signal?: AbortSignal } = {},
): AsyncGenerator<Buffer, void, undefined> {
  const total = chunks.reduce((s, c) => s + c.size, 0);
  if (total === 0) return;
  const start = range?.start ?? 0;
  const end = range?.end ?? total - 1;
  const parts: { id: string; size: number; rel: ByteRange | null }[] = [];
  for (const c of chunks) {
    const cEnd = c.offset + c.size - 1;
    if (cEnd < start || c.offset > end) continue;
    const relStart = Math.max(start, c.offset) - c.offset;
    const relEnd = Math.min(end, cEnd) - c.offset;
    const whole = relStart === 0 && relEnd === c.size - 1;
    parts.push({ id: c.chunkId, size: c.size, rel: whole ? null : { start: relStart, end: relEnd } });
  }
  const ac = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, ac.signal]) : ac.signal;
  const ahead = Math.max(1, opts.prefetch ?? DEFAULT_PREFETCH);
  const inflight: Promise<Buffer>[] = [];
  let next = 0;
  const launch = () => {
    const p = parts[next++]!;
    const promise = source.read(p.id, p.size, p.rel, signal);
    // Rejections are observed when awaited below; this only prevents an unhandled
    // rejection for a prefetched chunk that is abandoned.
    promise.catch(() => undefined);
    inflight.push(promise);
  };
  try {
    while (next < parts.length && inflight.length < ahead) launch();
    while (inflight.length > 0) {
      const buf = await inflight.shift()!;
      if (next < parts.length) launch();
      yield buf;
    }
  } finally {
    ac.abort(new Error("download stopped"));
  }
}

/** A pull-based web stream over an async iterator: nothing is read before it is asked for. */
export function iteratorStream(it: AsyncIterator<Uint8Array>, onCancel?: () => void): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const r = await it.next();
          if (r.done) controller.close();
          else controller.enqueue(r.value);
        } catch (err) {
          onCancel?.();
          controller.error(err);
        }
      },
      async cancel() {
        onCancel?.();
        await it.return?.(undefined);
      },
    },
    { highWaterMark: 1 },
  );
}
