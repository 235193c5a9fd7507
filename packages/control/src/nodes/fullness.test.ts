import { describe, expect, it } from "vitest";
import { fullBelowBytes, isFull } from "./fullness.ts";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe("full nodes", () => {
  it("keep 2 % of capacity free, at least 64 MiB and at most 8 GiB", () => {
    expect(fullBelowBytes(1 * GiB)).toBe(64 * MiB);
    expect(fullBelowBytes(100 * GiB)).toBe(Math.floor(100 * GiB * 0.02));
    expect(fullBelowBytes(16 * 1024 * GiB)).toBe(8 * GiB);
  });

  it("are those that reported less than that; a node that reports nothing is not full", () => {
    expect(isFull({ capacityBytes: 100n * BigInt(GiB), availableBytes: BigInt(GiB) })).toBe(true);
    expect(isFull({ capacityBytes: 100n * BigInt(GiB), availableBytes: 3n * BigInt(GiB) })).toBe(false);
    expect(isFull({ capacityBytes: 100 * GiB, availableBytes: null })).toBe(false);
    expect(isFull({ capacityBytes: 0, availableBytes: 0 })).toBe(true);
  });
});
