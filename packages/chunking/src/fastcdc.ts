// FastCDC content-defined chunking (Xia et al., USENIX ATC 2016): gear hash,
// sub-minimum cut-point skipping and normalized chunking with two masks.
//
// Pure and platform-neutral (no Node or DOM APIs) so that browsers and Node
// produce byte-identical boundaries. Anything that changes where cuts fall
// (gear table, masks, the exact cut rule) changes every chunk id ever stored,
// which destroys deduplication against existing data: treat all of it as a
// frozen on-disk format. The golden tests in fastcdc.test.ts pin it.

export const DEFAULT_MIN_SIZE = 256 * 1024;
export const DEFAULT_AVG_SIZE = 1024 * 1024;
export const DEFAULT_MAX_SIZE = 4 * 1024 * 1024;
export const DEFAULT_NORMALIZATION = 1;

export interface FastCdcOptions {
  /** Smallest chunk (except the final one of a stream). Default 256 KiB. */
  minSize?: number;
  /** Target ("normal") chunk size; must be a power of two. Default 1 MiB. */
  avgSize?: number;
  /** Largest chunk; a cut is forced here. Default 4 MiB. */
  maxSize?: number;
  /** Normalization level 0..3 (the paper's NC level). Default 1. */
  normalization?: number;
}

export interface FastCdcParams {
  readonly minSize: number;
  readonly avgSize: number;
  readonly maxSize: number;
  readonly normalization: number;
  /** Stricter mask used while the chunk is shorter than avgSize. */
  readonly maskS: number;
  /** Looser mask used once the chunk is longer than avgSize. */
  readonly maskL: number;
}

// Limits keep every mask inside the 32-bit hash with at least one bit to spare
// and keep sizes comfortably inside what a single Uint8Array can hold.
const MIN_MIN_SIZE = 64;
const MAX_MAX_SIZE = 1024 * 1024 * 1024;

/**
 * The paper uses a 64-bit fingerprint; JavaScript only has fast 32-bit integer
 * arithmetic, so the fingerprint here is 32 bits and the mask bits are taken
 * from the top of the word. With `h = (h << 1) + gear[b]`, bit k depends on the
 * last k+1 bytes, so the top bits give the full 32-byte window, which is what
 * the paper's spread-out 64-bit masks are trying to achieve.
 */
function topBitsMask(bits: number): number {
  return bits === 0 ? 0 : (0xffffffff << (32 - bits)) | 0;
}

export function resolveParams(opts: FastCdcOptions = {}): FastCdcParams {
  const minSize = opts.minSize ?? DEFAULT_MIN_SIZE;
  const avgSize = opts.avgSize ?? DEFAULT_AVG_SIZE;
  const maxSize = opts.maxSize ?? DEFAULT_MAX_SIZE;
  const normalization = opts.normalization ?? DEFAULT_NORMALIZATION;
  for (const [name, v] of [
    ["minSize", minSize],
    ["avgSize", avgSize],
    ["maxSize", maxSize],
  ] as const) {
    if (!Number.isSafeInteger(v)) throw new RangeError(`FastCDC ${name} must be an integer, got ${v}`);
  }
  if (minSize < MIN_MIN_SIZE) throw new RangeError(`FastCDC minSize must be >= ${MIN_MIN_SIZE}, got ${minSize}`);
  if (maxSize > MAX_MAX_SIZE) throw new RangeError(`FastCDC maxSize must be <= ${MAX_MAX_SIZE}, got ${maxSize}`);
  if (!(minSize <= avgSize && avgSize <= maxSize)) {
    throw new RangeError(
      `FastCDC sizes must satisfy minSize <= avgSize <= maxSize, got ${minSize}/${avgSize}/${maxSize}`,
    );
  }
  // Masks are built from log2(avgSize); a non-power-of-two would silently be
  // rounded, so callers would not get the average they asked for.
  if ((avgSize & (avgSize - 1)) !== 0) throw new RangeError(`FastCDC avgSize must be a power of two, got ${avgSize}`);
  if (!Number.isInteger(normalization) || normalization < 0 || normalization > 3) {
    throw new RangeError(`FastCDC normalization must be 0, 1, 2 or 3, got ${normalization}`);
  }
  const bits = Math.log2(avgSize);
  return {
    minSize,
    avgSize,
    maxSize,
    normalization,
    maskS: topBitsMask(Math.min(31, bits + normalization)),
    maskL: topBitsMask(Math.max(1, bits - normalization)),
  };
}

// Fixed seed for the gear table. Never change it (see the header comment).
const GEAR_SEED = 0x43554d55; // "CUMU"

/**
 * 256 pseudo-random 32-bit values: murmur3's fmix32 over a Weyl sequence.
 * Integer-only (Math.imul), so it is bit-identical on every JS engine.
 * Stored as Int32Array so V8 keeps values as small integers in the hot loop
 * (a Uint32Array would box values >= 2^31 as doubles).
 */
export const GEAR: Int32Array = (() => {
  const table = new Int32Array(256);
  let s = GEAR_SEED;
  for (let i = 0; i < 256; i++) {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    table[i] = z ^ (z >>> 16);
  }
  return table;
})();

/**
 * Incremental FastCDC. Feed blocks of any size with `push`; each call returns
 * the cut points completed inside that block, as absolute stream offsets
 * (exclusive chunk ends). `finish` returns the end of the final, possibly
 * short, chunk. Only a few numbers of state are kept between blocks, so
 * memory does not depend on stream length.
 *
 * Cut rule, for a chunk whose length would be L after including byte j:
 *   L <  minSize            no hashing (the paper's cut-point skipping)
 *   minSize <= L <= avg     hash byte j, cut if (h & maskS) == 0
 *   avg < L < maxSize       hash byte j, cut if (h & maskL) == 0
 *   L == maxSize            cut
 * The hash restarts at 0 at each chunk start, so boundaries depend only on
 * the bytes since the previous boundary, never on how input was split.
 */
export class FastCdc {
  readonly params: FastCdcParams;
  #hash = 0;
  /** Bytes of the current (open) chunk seen so far. */
  #len = 0;
  /** Absolute stream offset of the end of everything pushed so far. */
  #pos = 0;
  #finished = false;

  constructor(opts?: FastCdcOptions) {
    this.params = resolveParams(opts);
  }

  /** Total bytes pushed so far. */
  get position(): number {
    return this.#pos;
  }

  /** Bytes pushed since the last cut (the open chunk). */
  get pending(): number {
    return this.#len;
  }

  push(block: Uint8Array): number[] {
    if (this.#finished) throw new Error("FastCdc.push after finish");
    const cuts: number[] = [];
    const base = this.#pos;
    const n = block.length;
    let i = 0;
    while (i < n) {
      const end = this.#scan(block, i);
      if (end < 0) break;
      cuts.push(base + end);
      i = end;
    }
    this.#pos = base + n;
    return cuts;
  }

  finish(): number[] {
    if (this.#finished) return [];
    this.#finished = true;
    if (this.#len === 0) return [];
    this.#len = 0;
    this.#hash = 0;
    return [this.#pos];
  }

  /**
   * Scans block[start..] continuing the open chunk. Returns the in-block index
   * just past the next cut, or -1 when the block ends first (state is saved).
   * Kept as one function with locals so V8 compiles the two inner loops to
   * tight machine code; per-byte work is one load, shift, add and test.
   */
  #scan(block: Uint8Array, start: number): number {
    const p = this.params;
    const G = GEAR;
    const n = block.length;
    let i = start;
    let len = this.#len;
    let h = this.#hash;

    const skipTo = p.minSize - 1;
    if (len < skipTo) {
      const k = Math.min(skipTo - len, n - i);
      i += k;
      len += k;
      if (len < skipTo) {
        this.#len = len;
        return -1;
      }
    }

    if (len < p.avgSize) {
      const mask = p.maskS;
      const end = Math.min(n, i + (p.avgSize - len));
      const i0 = i;
      for (; i < end; i++) {
        h = ((h << 1) + G[block[i]!]!) | 0;
        if ((h & mask) === 0) return this.#cut(i + 1);
      }
      len += i - i0;
      if (len < p.avgSize) {
        this.#len = len;
        this.#hash = h;
        return -1;
      }
    }

    const mask = p.maskL;
    const end = Math.min(n, i + (p.maxSize - len));
    const i0 = i;
    for (; i < end; i++) {
      h = ((h << 1) + G[block[i]!]!) | 0;
      if ((h & mask) === 0) return this.#cut(i + 1);
    }
    len += i - i0;
    if (len === p.maxSize) return this.#cut(i);
    this.#len = len;
    this.#hash = h;
    return -1;
  }

  #cut(end: number): number {
    this.#len = 0;
    this.#hash = 0;
    return end;
  }
}

/**
 * One-shot chunking of an in-memory buffer. Returns exclusive chunk end
 * offsets; the last one equals bytes.length. Empty input gives [].
 */
export function cutPoints(bytes: Uint8Array, opts?: FastCdcOptions): number[] {
  const cdc = new FastCdc(opts);
  const cuts = cdc.push(bytes);
  for (const c of cdc.finish()) cuts.push(c);
  return cuts;
}

/** Chunk lengths from cut points (as returned by `cutPoints`). */
export function cutPointsToSizes(cuts: readonly number[]): number[] {
  const sizes: number[] = [];
  let prev = 0;
  for (const c of cuts) {
    sizes.push(c - prev);
    prev = c;
  }
  return sizes;
}
