import { describe, expect, test } from "vitest";
import { chunkKey, hashString64, pairUnit, rankNodes, score, weightedScore } from "./rendezvous.ts";
import { randomChunkIds, randomNodeId } from "./testing/fixtures.ts";
import { BASE_SEED, withSeed } from "@cumulus/testing/prng";

const HEX = "0123456789abcdef".repeat(4);

describe("frozen hash values", () => {
  // Placement of every stored replica depends on these: never change them.
  test("hashString64", () => {
    expect(hashString64("")).toEqual({ hi: 2755147361, lo: 3424198988 });
    expect(hashString64("a")).toEqual({ hi: 870557742, lo: 2175200865 });
    expect(hashString64(HEX)).toEqual({ hi: 868037713, lo: 989458906 });
    expect(hashString64("node-1")).toEqual({ hi: 4119908898, lo: 347802032 });
  });

  test("pairUnit, score and ranking", () => {
    expect(pairUnit(hashString64(HEX), hashString64("node-1"))).toBe(0.8657780389577213);
    expect(score(HEX, { id: "node-1", weight: 3 })).toBe(20.81501766082763);
    const nodes = ["n1", "n2", "n3", "n4", "n5"].map((id, i) => ({ id, weight: i + 1 }));
    expect(rankNodes(HEX, nodes).map((n) => n.id)).toEqual(["n3", "n5", "n4", "n1", "n2"]);
    expect(rankNodes("b".repeat(64), nodes).map((n) => n.id)).toEqual(["n3", "n5", "n4", "n2", "n1"]);
  });
});

describe("hash quality", () => {
  test("pairUnit is in (0,1) and uniform", () => {
    withSeed(BASE_SEED + 1, (rng) => {
      const nodes = Array.from({ length: 4 }, () => hashString64(randomNodeId(rng)));
      const buckets = new Array<number>(20).fill(0);
      let n = 0;
      let outside = 0;
      for (const id of randomChunkIds(rng, 25_000)) {
        const ck = chunkKey(id);
        for (const nk of nodes) {
          const u = pairUnit(ck, nk);
          if (!(u > 0 && u < 1)) outside++;
          buckets[Math.floor(u * 20)]!++;
          n++;
        }
      }
      expect(outside).toBe(0);
      // Chi-square with 19 degrees of freedom: 99.99th percentile is about 50.
      const expected = n / 20;
      const chi2 = buckets.reduce((acc, b) => acc + (b - expected) ** 2 / expected, 0);
      expect(chi2).toBeLessThan(50);
    });
  });

  test("scores of two nodes for the same chunk are uncorrelated", () => {
    withSeed(BASE_SEED + 2, (rng) => {
      const a = hashString64(randomNodeId(rng));
      const b = hashString64(randomNodeId(rng));
      const n = 50_000;
      let sx = 0;
      let sy = 0;
      let sxy = 0;
      let sxx = 0;
      let syy = 0;
      for (const id of randomChunkIds(rng, n)) {
        const ck = chunkKey(id);
        const x = pairUnit(ck, a);
        const y = pairUnit(ck, b);
        sx += x;
        sy += y;
        sxy += x * y;
        sxx += x * x;
        syy += y * y;
      }
      const r = (n * sxy - sx * sy) / Math.sqrt((n * sxx - sx * sx) * (n * syy - sy * sy));
      expect(Math.abs(r)).toBeLessThan(0.02); // ~4.5 sigma for n = 50k
    });
  });

  test("similar ids give unrelated keys", () => {
    const k1 = hashString64(`${"0".repeat(63)}0`);
    const k2 = hashString64(`${"0".repeat(63)}1`);
    const bits = (x: number) => x.toString(2).replace(/0/g, "").length;
    const diff = bits((k1.hi ^ k2.hi) >>> 0) + bits((k1.lo ^ k2.lo) >>> 0);
    expect(diff).toBeGreaterThan(16);
    expect(diff).toBeLessThan(48);
  });
});

describe("weightedScore", () => {
  test("invalid weights never win", () => {
    expect(weightedScore(0.5, 0)).toBe(-Infinity);
    expect(weightedScore(0.5, -1)).toBe(-Infinity);
    expect(weightedScore(0.5, Number.NaN)).toBe(-Infinity);
    expect(weightedScore(0.5, Infinity)).toBe(-Infinity);
    expect(weightedScore(0.5, 2)).toBeCloseTo(2 / Math.LN2);
  });

  test("rankNodes does not depend on input order", () => {
    const nodes = Array.from({ length: 8 }, (_, i) => ({ id: `n${i}`, weight: 1 + (i % 3) }));
    const a = rankNodes(HEX, nodes).map((n) => n.id);
    const b = rankNodes(HEX, [...nodes].reverse()).map((n) => n.id);
    expect(b).toEqual(a);
  });

  test("share of first place is proportional to weight over 100k chunks", () => {
    withSeed(BASE_SEED + 3, (rng) => {
      const weights = [1, 2, 3, 4, 10];
      const total = weights.reduce((a, b) => a + b, 0);
      const nodes = weights.map((w) => ({ id: randomNodeId(rng), weight: w * 1e12 }));
      const wins = new Map<string, number>();
      const N = 100_000;
      for (const id of randomChunkIds(rng, N)) {
        const top = rankNodes(id, nodes)[0]!;
        wins.set(top.id, (wins.get(top.id) ?? 0) + 1);
      }
      nodes.forEach((n, i) => {
        const p = weights[i]! / total;
        const share = (wins.get(n.id) ?? 0) / N;
        // 5 standard deviations of a binomial proportion.
        expect(Math.abs(share - p), `node ${i} weight ${weights[i]}: share ${share} vs ${p}`).toBeLessThan(
          5 * Math.sqrt((p * (1 - p)) / N),
        );
      });
    });
  });
});
