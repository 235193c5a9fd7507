// Platform-neutral core shared by node.ts and browser.ts: turns a stream of
// byte blocks into hashed chunk records. The platform entry points only supply
// the hash function and the buffer allocator, so both produce identical chunks.

import { FastCdc, type FastCdcOptions } from "./fastcdc.ts";

export interface ChunkRecord<D extends Uint8Array = Uint8Array> {
  /** 0-based position of the chunk in the stream. */
  index: number;
  /** Byte offset of the chunk in the stream. */
  offset: number;
  size: number;
  /** SHA-256 of `data`, 64 lowercase hex. */
  id: string;
  /** The chunk bytes; a fresh buffer owned by the consumer. */
  data: D;
}

export interface AssembleOptions<D extends Uint8Array> {
  hash: (data: D) => string | Promise<string>;
  alloc: (size: number) => D;
}

/**
 * Memory bound: the open chunk's bytes carried over from earlier blocks (at
 * most maxSize), the current source block, and the chunk being yielded.
 *
 * Bytes that straddle a block boundary are copied into an accumulator instead
 * of keeping a reference to the source block, so sources may reuse one read
 * buffer for every block (chunkFile does) and large source blocks are not
 * pinned by small leftovers.
 */
export async function* assembleChunks<D extends Uint8Array>(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  cdcOptions: FastCdcOptions | undefined,
  io: AssembleOptions<D>,
): AsyncGenerator<ChunkRecord<D>, void, undefined> {
  const cdc = new FastCdc(cdcOptions);
  const maxSize = cdc.params.maxSize;
  let acc: Uint8Array = new Uint8Array(0);
  let accLen = 0;
  let index = 0;
  let offset = 0;

  const take = (block: Uint8Array, from: number, to: number): D => {
    const size = accLen + (to - from);
    const data = io.alloc(size);
    if (accLen > 0) data.set(acc.subarray(0, accLen), 0);
    data.set(block.subarray(from, to), accLen);
    accLen = 0;
    return data;
  };

  const record = async (data: D): Promise<ChunkRecord<D>> => {
    const rec: ChunkRecord<D> = { index, offset, size: data.length, id: await io.hash(data), data };
    index++;
    offset += data.length;
    return rec;
  };

  for await (const block of source) {
    if (!(block instanceof Uint8Array)) {
      // A Node stream with an encoding set yields strings; chunking their
      // re-encoding would silently change the bytes.
      throw new TypeError(`chunk source must yield Uint8Array blocks, got ${typeof block}`);
    }
    if (block.length === 0) continue;
    const base = cdc.position;
    const cuts = cdc.push(block);
    let from = 0;
    for (const cut of cuts) {
      const to = cut - base;
      yield await record(take(block, from, to));
      from = to;
    }
    const rest = block.length - from;
    if (rest > 0) {
      if (accLen + rest > acc.length) {
        // Grow geometrically but never beyond maxSize, the most an open chunk can hold.
        const grown = new Uint8Array(Math.min(maxSize, Math.max(accLen + rest, acc.length * 2, 64 * 1024)));
        grown.set(acc.subarray(0, accLen), 0);
        acc = grown;
      }
      acc.set(block.subarray(from), accLen);
      accLen += rest;
    }
  }
  if (cdc.finish().length > 0) {
    yield await record(take(acc, 0, 0));
  }
}
