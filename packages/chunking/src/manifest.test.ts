import { describe, expect, test } from "vitest";
import { manifestDigest as manifestDigestWeb } from "./browser.ts";
import {
  assertValidManifest,
  canonicalManifestBytes,
  chunkOffsets,
  isChunkId,
  isValidManifest,
  locateOffset,
  manifestFromChunks,
  validateManifest,
  type Manifest,
} from "./manifest.ts";
import { manifestDigest } from "./node.ts";

const A = "a".repeat(64);
const B = "0123456789abcdef".repeat(4);
const good: Manifest = {
  size: 30,
  chunks: [
    { id: A, size: 10 },
    { id: B, size: 15 },
    { id: A, size: 5 },
  ],
};

describe("validateManifest", () => {
  test("accepts valid manifests, including the empty file", () => {
    expect(validateManifest(good)).toEqual([]);
    expect(validateManifest({ size: 0, chunks: [] })).toEqual([]);
    expect(isValidManifest(good)).toBe(true);
    expect(() => assertValidManifest(good)).not.toThrow();
  });

  test.each([
    ["uppercase hex", "A".repeat(64)],
    ["63 chars", "a".repeat(63)],
    ["65 chars", "a".repeat(65)],
    ["non-hex", "g".repeat(64)],
    ["empty", ""],
    ["not a string", 42],
    ["prefixed", `sha256:${"a".repeat(57)}`],
  ])("rejects a bad chunk id (%s)", (_name, id) => {
    const errors = validateManifest({ size: 1, chunks: [{ id, size: 1 }] });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/chunk 0 id must be 64 lowercase hex/);
  });

  test.each([0, -1, 1.5, Number.NaN, Infinity, "1", null])("rejects a bad chunk size (%s)", (size) => {
    const errors = validateManifest({ size: 1, chunks: [{ id: A, size }] });
    expect(errors.some((e) => /chunk 0 size must be a positive integer/.test(e))).toBe(true);
  });

  test("rejects a size that is not the sum of chunk sizes", () => {
    expect(validateManifest({ ...good, size: 31 })).toEqual([
      "sum of chunk sizes (30) does not equal manifest size (31)",
    ]);
    expect(validateManifest({ size: 5, chunks: [] })).toEqual([
      "sum of chunk sizes (0) does not equal manifest size (5)",
    ]);
  });

  test("rejects malformed shapes", () => {
    expect(validateManifest(null)).toEqual(["manifest must be an object"]);
    expect(validateManifest([])).toEqual(["manifest must be an object"]);
    expect(validateManifest({ size: 0 })).toContain("manifest chunks must be an array");
    expect(validateManifest({ size: -1, chunks: [] })[0]).toMatch(/non-negative integer/);
    expect(validateManifest({ size: 1, chunks: ["x"] })).toContain("chunk 0 must be an object");
    expect(() => assertValidManifest({ size: 1, chunks: [] })).toThrow(/invalid manifest: sum of chunk sizes/);
  });

  test("optional maximum chunk size", () => {
    expect(validateManifest(good, { maxChunkSize: 15 })).toEqual([]);
    expect(validateManifest(good, { maxChunkSize: 14 })).toEqual(["chunk 1 size 15 exceeds the maximum chunk size 14"]);
  });

  test("isChunkId", () => {
    expect(isChunkId(A)).toBe(true);
    expect(isChunkId(A.toUpperCase())).toBe(false);
    expect(isChunkId(undefined)).toBe(false);
  });
});

describe("offsets", () => {
  test("chunkOffsets and locateOffset", () => {
    expect(chunkOffsets(good)).toEqual([0, 10, 25]);
    expect(locateOffset(good, 0)).toEqual({ index: 0, chunkOffset: 0, offsetInChunk: 0 });
    expect(locateOffset(good, 9)).toEqual({ index: 0, chunkOffset: 0, offsetInChunk: 9 });
    expect(locateOffset(good, 10)).toEqual({ index: 1, chunkOffset: 10, offsetInChunk: 0 });
    expect(locateOffset(good, 29)).toEqual({ index: 2, chunkOffset: 25, offsetInChunk: 4 });
    expect(locateOffset(good, 30)).toBeNull();
    expect(locateOffset(good, -1)).toBeNull();
    expect(locateOffset({ size: 0, chunks: [] }, 0)).toBeNull();
  });

  test("manifestFromChunks sums sizes and copies entries", () => {
    const m = manifestFromChunks(good.chunks);
    expect(m).toEqual(good);
    expect(m.chunks[0]).not.toBe(good.chunks[0]);
  });
});

describe("manifest digest", () => {
  test("canonical encoding is the documented line format", () => {
    const text = new TextDecoder().decode(canonicalManifestBytes(good));
    expect(text).toBe(`cumulus-manifest-v1\n30\n${A} 10\n${B} 15\n${A} 5\n`);
  });

  test("digest is stable, identical in Node and Web Crypto, and sensitive to order", async () => {
    // Frozen: manifest ids are persisted.
    expect(manifestDigest({ size: 0, chunks: [] })).toBe(
      "82dbca918534bb7b78e41e1ef2e612dd715ea24f9f08dc4c4b53857cd64f0918",
    );
    expect(manifestDigest(good)).toBe("61c6e12b07956843751e2244a7aef40d28e6faf6b97738999cebb34324afe8fb");
    const d = manifestDigest(good);
    expect(d).toMatch(/^[0-9a-f]{64}$/);
    expect(await manifestDigestWeb(good)).toBe(d);
    const swapped = { ...good, chunks: [good.chunks[1]!, good.chunks[0]!, good.chunks[2]!] };
    expect(manifestDigest(swapped)).not.toBe(d);
  });

  test("refuses to digest an invalid manifest", () => {
    expect(() => manifestDigest({ size: 1, chunks: [] })).toThrow(/invalid manifest/);
  });
});
