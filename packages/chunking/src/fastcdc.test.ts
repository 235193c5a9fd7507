import { createHash } from "node:crypto";
import { describe, expect, test } from "vitest";
import {
  DEFAULT_AVG_SIZE,
  DEFAULT_MAX_SIZE,
  DEFAULT_MIN_SIZE,
  FastCdc,
  GEAR,
  cutPoints,
  cutPointsToSizes,
  resolveParams,
  type FastCdcOptions,
} from "./fastcdc.ts";
import { BASE_SEED, randomBytes, withSeed, type Rng } from "@cumulus/testing/prng";

const MiB = 1024 * 1024;
const SMALL: FastCdcOptions = { minSize: 512, avgSize: 2048, maxSize: 8192 };

function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

function chunkIds(data: Uint8Array, opts?: FastCdcOptions): string[] {
  const ids: string[] = [];
  let prev = 0;
  for (const c of cutPoints(data, opts)) {
    ids.push(sha256(data.subarray(prev, c)));
    prev = c;
  }
  return ids;
}

/** Number of chunks of `after` whose id does not occur in `before` (i.e. must be uploaded). */
function newChunks(before: string[], after: string[]): number {
  const known = new Set(before);
  return after.filter((id) => !known.has(id)).length;
}

function checkSizes(cuts: number[], total: number, opts: { minSize: number; maxSize: number }): void {
  expect(cuts.at(-1) ?? 0).toBe(total);
  const sizes = cutPointsToSizes(cuts);
  sizes.forEach((s, i) => {
    expect(s).toBeGreaterThan(0);
    expect(s).toBeLessThanOrEqual(opts.maxSize);
    if (i < sizes.length - 1) expect(s).toBeGreaterThanOrEqual(opts.minSize);
  });
}

/** Feeds `data` in blocks of random sizes (log-uniform in [1, maxBlock]) and returns all cut points. */
function incrementalCuts(data: Uint8Array, rng: Rng, maxBlock: number, opts?: FastCdcOptions): number[] {
  const cdc = new FastCdc(opts);
  const cuts: number[] = [];
  let pos = 0;
  while (pos < data.length) {
    const len = Math.max(1, Math.floor(Math.exp(rng.float() * Math.log(maxBlock))));
    const block = data.subarray(pos, Math.min(data.length, pos + len));
    cuts.push(...cdc.push(block));
    pos += block.length;
    // Occasionally push an empty block: must be a no-op.
    if (rng.int(8) === 0) expect(cdc.push(new Uint8Array(0))).toEqual([]);
  }
  cuts.push(...cdc.finish());
  return cuts;
}

// Shared 64 MiB seeded input, generated once.
const BIG_SEED = BASE_SEED + 64;
const big = randomBytes(BIG_SEED, 64 * MiB);

describe("frozen format", () => {
  // These values must never change: chunk boundaries are part of the storage
  // format. If this fails you changed the gear table, masks or cut rule.
  test("gear table is the fixed table", () => {
    expect(GEAR.length).toBe(256);
    expect(sha256(new Uint8Array(GEAR.buffer))).toBe(
      "32190aa7121502bb7cac33aeec92a90a53a540207e5953dd071e57f093e0980f",
    );
    expect([GEAR[0], GEAR[1], GEAR[255]]).toEqual([138119860, 1657400101, -1632839986]);
  });

  test("default parameters and masks", () => {
    const p = resolveParams();
    expect(p).toMatchObject({ minSize: 256 * 1024, avgSize: MiB, maxSize: 4 * MiB, normalization: 1 });
    expect(p.maskS >>> 0).toBe(0xfffff800); // 21 bits = log2(1 MiB) + 1
    expect(p.maskL >>> 0).toBe(0xffffe000); // 19 bits = log2(1 MiB) - 1
    expect(resolveParams({ normalization: 2 }).maskS >>> 0).toBe(0xfffffc00);
  });

  test("golden cut points", () => {
    // randomBytes(42, …) is itself frozen by the test PRNG implementation.
    const data = randomBytes(42, 16 * MiB);
    expect(cutPoints(data)).toEqual([
      1699100, 2374556, 3864868, 4956605, 6057759, 7684836, 8339767, 9829288, 10545048, 12232146, 13669639, 14783089,
      16777216,
    ]);
    expect(cutPoints(data.subarray(0, 64 * 1024), SMALL)).toEqual([
      1081, 3593, 5343, 8197, 9731, 12168, 14956, 17926, 19672, 21909, 25366, 26282, 31501, 32660, 34729, 36563, 39250,
      41628, 44241, 45893, 47421, 47956, 50606, 52884, 57335, 60373, 63761, 65536,
    ]);
  });
});

describe("cutPoints", () => {
  test("same bytes give the same chunks, also from a copy at another offset", () => {
    const a = cutPoints(big);
    const copy = new Uint8Array(big.length + 3).subarray(3);
    copy.set(big);
    expect(cutPoints(big)).toEqual(a);
    expect(cutPoints(copy)).toEqual(a);
  });

  test("chunk sizes respect min/max (except the last) with defaults", () => {
    const cuts = cutPoints(big);
    checkSizes(cuts, big.length, { minSize: DEFAULT_MIN_SIZE, maxSize: DEFAULT_MAX_SIZE });
    // Mean chunk size near the 1 MiB target on random data (guards against mask mistakes).
    const mean = big.length / cuts.length;
    expect(mean).toBeGreaterThan(0.75 * DEFAULT_AVG_SIZE);
    expect(mean).toBeLessThan(1.5 * DEFAULT_AVG_SIZE);
  });

  test("chunk sizes respect min/max with small parameters", () => {
    const data = big.subarray(0, 4 * MiB);
    const cuts = cutPoints(data, SMALL);
    checkSizes(cuts, data.length, { minSize: 512, maxSize: 8192 });
    const mean = data.length / cuts.length;
    expect(mean).toBeGreaterThan(0.75 * 2048);
    expect(mean).toBeLessThan(1.5 * 2048);
  });

  test("all-zero input is cut at maxSize and deduplicates to one chunk id", () => {
    const zeros = new Uint8Array(10 * MiB);
    expect(cutPoints(zeros)).toEqual([4 * MiB, 8 * MiB, 10 * MiB]);
    const ids = chunkIds(zeros);
    expect(ids[0]).toBe(ids[1]);
    const smallZeros = cutPoints(new Uint8Array(100_000), SMALL);
    checkSizes(smallZeros, 100_000, { minSize: 512, maxSize: 8192 });
  });

  test("tiny inputs", () => {
    expect(cutPoints(new Uint8Array(0))).toEqual([]);
    expect(cutPoints(new Uint8Array([7]))).toEqual([1]);
    expect(cutPoints(big.subarray(0, DEFAULT_MIN_SIZE - 1))).toEqual([DEFAULT_MIN_SIZE - 1]);
    expect(cutPoints(big.subarray(0, DEFAULT_MIN_SIZE))).toEqual([DEFAULT_MIN_SIZE]);
    const f = new FastCdc();
    expect(f.finish()).toEqual([]);
    expect(f.finish()).toEqual([]);
    expect(() => f.push(new Uint8Array(1))).toThrow(/after finish/);
  });

  test("min == avg == max gives fixed-size chunks", () => {
    const data = big.subarray(0, 10_000);
    expect(cutPoints(data, { minSize: 1000, avgSize: 1024, maxSize: 1024 })).toHaveLength(10);
    expect(cutPoints(data, { minSize: 1024, avgSize: 1024, maxSize: 1024 })).toEqual([
      1024, 2048, 3072, 4096, 5120, 6144, 7168, 8192, 9216, 10000,
    ]);
  });

  test("rejects invalid options", () => {
    expect(() => resolveParams({ minSize: 10 })).toThrow(RangeError);
    expect(() => resolveParams({ minSize: 512, avgSize: 1000 })).toThrow(/power of two/);
    expect(() => resolveParams({ minSize: 2 * MiB, avgSize: MiB })).toThrow(/minSize <= avgSize/);
    expect(() => resolveParams({ maxSize: 512 * 1024 })).toThrow(/avgSize <= maxSize/);
    expect(() => resolveParams({ normalization: 4 })).toThrow(/normalization/);
    expect(() => resolveParams({ maxSize: 1.5 })).toThrow(/integer/);
  });
});

describe("incremental chunking", () => {
  test("random block sizes give exactly the one-shot cut points (default sizes)", () => {
    const data = big.subarray(0, 24 * MiB);
    const expected = cutPoints(data);
    for (let k = 0; k < 3; k++) {
      withSeed(BASE_SEED + 100 + k, (rng) => {
        expect(incrementalCuts(data, rng, 8 * MiB)).toEqual(expected);
      });
    }
  });

  test("random block sizes give exactly the one-shot cut points (small sizes, many boundaries)", () => {
    for (let k = 0; k < 20; k++) {
      withSeed(BASE_SEED + 200 + k, (rng) => {
        const data = rng.fill(new Uint8Array(64 * 1024 + rng.int(256 * 1024)));
        // Mix in zero runs so forced max-size cuts also straddle blocks.
        data.fill(0, rng.int(data.length), rng.int(data.length));
        const expected = cutPoints(data, SMALL);
        expect(incrementalCuts(data, rng, 1 + rng.int(20_000), SMALL)).toEqual(expected);
      });
    }
  });

  test("position and pending track the stream", () => {
    const cdc = new FastCdc(SMALL);
    const cuts = cdc.push(big.subarray(0, 10_000));
    expect(cdc.position).toBe(10_000);
    expect(cdc.pending).toBe(10_000 - (cuts.at(-1) ?? 0));
  });
});

describe("shift resistance", () => {
  test("inserting bytes in the middle of 64 MiB changes at most a few chunks", () => {
    const before = chunkIds(big);
    withSeed(BASE_SEED + 300, (rng) => {
      for (const insertLen of [1, 1000, 100_000]) {
        const at = 32 * MiB + rng.int(MiB);
        const edited = new Uint8Array(big.length + insertLen);
        edited.set(big.subarray(0, at), 0);
        rng.fill(edited.subarray(at, at + insertLen));
        edited.set(big.subarray(at), at + insertLen);
        const changed = newChunks(before, chunkIds(edited));
        expect(changed, `insert ${insertLen} bytes at ${at}`).toBeGreaterThanOrEqual(1);
        expect(changed, `insert ${insertLen} bytes at ${at}`).toBeLessThanOrEqual(4);
      }
    });
  });

  test("deleting bytes in the middle changes at most a few chunks", () => {
    const before = chunkIds(big);
    const at = 20 * MiB + 12345;
    const edited = new Uint8Array(big.length - 5000);
    edited.set(big.subarray(0, at), 0);
    edited.set(big.subarray(at + 5000), at);
    expect(newChunks(before, chunkIds(edited))).toBeLessThanOrEqual(4);
  });

  test("overwriting 1 MiB in the middle of 256 MiB changes at most 4 chunk ids", () => {
    const data = randomBytes(BASE_SEED + 256, 256 * MiB);
    const before = chunkIds(data);
    for (let k = 0; k < 3; k++) {
      withSeed(BASE_SEED + 301 + k, (rng) => {
        const at = 112 * MiB + rng.int(32 * MiB);
        const saved = data.slice(at, at + MiB);
        rng.fill(data.subarray(at, at + MiB));
        const after = chunkIds(data);
        data.set(saved, at);
        const changed = newChunks(before, after);
        expect(changed, `overwrite at ${at}`).toBeGreaterThanOrEqual(1);
        expect(changed, `overwrite at ${at}`).toBeLessThanOrEqual(4);
        expect(Math.abs(after.length - before.length)).toBeLessThanOrEqual(3);
      });
    }
  });
});
