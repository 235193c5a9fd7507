import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ChunkHashWorker } from "./hash-worker.ts";
import { chunkBlob, chunkBytesAsync, manifestDigest as manifestDigestWeb, sha256HexAsync } from "./browser.ts";
import { cutPoints, type FastCdcOptions } from "./fastcdc.ts";
import { collectManifest, type Manifest } from "./manifest.ts";
import {
  chunkFile,
  chunkFileStream,
  chunkStream,
  manifestDigest,
  HASH_WORKER_MIN_BYTES,
  scanBigOrSmallFile,
  scanFile,
  sha256Hex,
  type ScanFileOptions,
  type ScannedChunk,
} from "./node.ts";
import { BASE_SEED, createRng, randomBytes, withSeedAsync, type Rng } from "@cumulus/testing/prng";

const MiB = 1024 * 1024;
const SMALL: FastCdcOptions = { minSize: 512, avgSize: 2048, maxSize: 8192 };

function expectedManifest(data: Uint8Array, opts?: FastCdcOptions): Manifest {
  const chunks: Manifest["chunks"] = [];
  let prev = 0;
  for (const c of cutPoints(data, opts)) {
    chunks.push({ id: createHash("sha256").update(data.subarray(prev, c)).digest("hex"), size: c - prev });
    prev = c;
  }
  return { size: data.length, chunks };
}

function* randomBlocks(data: Uint8Array, rng: Rng, maxBlock: number): Generator<Uint8Array> {
  let pos = 0;
  while (pos < data.length) {
    const len = 1 + rng.int(maxBlock);
    yield data.subarray(pos, pos + len);
    pos += len;
  }
}

const data = randomBytes(BASE_SEED + 7, 20 * MiB + 12345);
let dir: string;
let file: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "cumulus-chunking-"));
  file = join(dir, "data.bin");
  await writeFile(file, data);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("sha256", () => {
  test("node and web crypto agree with the standard test vector", async () => {
    const abc = new TextEncoder().encode("abc");
    const expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    expect(sha256Hex(abc)).toBe(expected);
    expect(await sha256HexAsync(abc)).toBe(expected);
  });
});

describe("chunkStream", () => {
  test("records are in order, contiguous, hashed, and match one-shot chunking", async () => {
    const expected = expectedManifest(data);
    const records = [];
    for await (const r of chunkStream(randomBlocks(data, createRng(BASE_SEED + 600), 3 * MiB))) records.push(r);
    expect(records.map(({ id, size }) => ({ id, size }))).toEqual(expected.chunks);
    let offset = 0;
    records.forEach((r, i) => {
      expect(r.index).toBe(i);
      expect(r.offset).toBe(offset);
      expect(Buffer.isBuffer(r.data)).toBe(true);
      expect(r.data.length).toBe(r.size);
      expect(r.data.equals(data.subarray(offset, offset + r.size))).toBe(true);
      offset += r.size;
    });
    expect(offset).toBe(data.length);
  });

  test("small blocks and small chunks, many seeds", async () => {
    for (let k = 0; k < 10; k++) {
      await withSeedAsync(BASE_SEED + 400 + k, async (rng) => {
        const d = rng.fill(new Uint8Array(1 + rng.int(200_000)));
        const m = await collectManifest(chunkStream(randomBlocks(d, rng, 1 + rng.int(10_000)), SMALL));
        expect(m).toEqual(expectedManifest(d, SMALL));
      });
    }
  });

  test("tolerates a source that reuses one buffer for every block", async () => {
    async function* reusing(): AsyncGenerator<Uint8Array> {
      const buf = new Uint8Array(100_000);
      for (let pos = 0; pos < data.length; pos += buf.length) {
        const n = Math.min(buf.length, data.length - pos);
        buf.set(data.subarray(pos, pos + n));
        yield buf.subarray(0, n);
        buf.fill(0xee); // clobber, as a reader refilling its buffer would
      }
    }
    const records = [];
    for await (const r of chunkStream(reusing())) records.push(r);
    expect(records.map(({ id, size }) => ({ id, size }))).toEqual(expectedManifest(data).chunks);
    for (const r of records) expect(r.data.equals(data.subarray(r.offset, r.offset + r.size))).toBe(true);
  });

  test("empty and tiny streams", async () => {
    expect(await collectManifest(chunkStream([]))).toEqual({ size: 0, chunks: [] });
    expect(await collectManifest(chunkStream([new Uint8Array(0), new Uint8Array(0)]))).toEqual({ size: 0, chunks: [] });
    const one = await collectManifest(chunkStream([new Uint8Array([0x61])]));
    expect(one).toEqual({ size: 1, chunks: [{ id: sha256Hex(new Uint8Array([0x61])), size: 1 }] });
  });

  test("rejects non-byte blocks (e.g. a stream with an encoding set)", async () => {
    const strings = ["abc"] as unknown as Uint8Array[];
    await expect(collectManifest(chunkStream(strings))).rejects.toThrow(TypeError);
  });
});

describe("chunkFile", () => {
  test("matches one-shot chunking and a fs.ReadStream fed to chunkStream", async () => {
    const expected = expectedManifest(data);
    expect(await chunkFile(file)).toEqual(expected);
    expect(await chunkFile(file, { readSize: 65_537 })).toEqual(expected);
    expect(await collectManifest(chunkStream(createReadStream(file)))).toEqual(expected);
  });

  test("chunkFileStream yields the data and can be stopped early", async () => {
    const expected = expectedManifest(data);
    const seen = [];
    for await (const r of chunkFileStream(file, { readSize: 300_000 })) {
      expect(r.data.equals(data.subarray(r.offset, r.offset + r.size))).toBe(true);
      seen.push({ id: r.id, size: r.size });
      if (seen.length === 3) break; // closes the file handle while a read-ahead may be in flight
    }
    expect(seen).toEqual(expected.chunks.slice(0, 3));
    expect(() => chunkFileStream(file, { readSize: 0 })).toThrow(RangeError);
  });

  test("empty file", async () => {
    const empty = join(dir, "empty.bin");
    await writeFile(empty, new Uint8Array(0));
    expect(await chunkFile(empty)).toEqual({ size: 0, chunks: [] });
  });

  test("missing file rejects", async () => {
    await expect(chunkFile(join(dir, "nope.bin"))).rejects.toThrow(/ENOENT/);
  });
});

describe("browser path (Blob + Web Crypto)", () => {
  test("chunkBlob gives the same manifest as the Node path", async () => {
    const blob = new Blob([data]);
    const nodeManifest = await chunkFile(file);
    const webManifest = await collectManifest(chunkBlob(blob));
    expect(webManifest).toEqual(nodeManifest);
    expect(await collectManifest(chunkBlob(blob, { readSize: 77_777 }))).toEqual(nodeManifest);
    expect(await manifestDigestWeb(webManifest)).toBe(manifestDigest(nodeManifest));
  });

  test("chunkBlob records carry the bytes", async () => {
    const d = data.subarray(0, 3 * MiB);
    let offset = 0;
    for await (const r of chunkBlob(new Blob([d]), SMALL)) {
      expect(r.offset).toBe(offset);
      expect(r.data).toEqual(d.subarray(offset, offset + r.size));
      offset += r.size;
    }
    expect(offset).toBe(d.length);
  });

  test("same records as the Node path with small chunks, many seeds", async () => {
    for (let k = 0; k < 5; k++) {
      await withSeedAsync(BASE_SEED + 500 + k, async (rng) => {
        const d = rng.fill(new Uint8Array(rng.int(300_000)));
        const web = await collectManifest(chunkBlob(new Blob([d]), { ...SMALL, readSize: 1 + rng.int(50_000) }));
        const node = await collectManifest(chunkStream([d], SMALL));
        expect(web).toEqual(node);
        expect(await collectManifest(chunkBytesAsync(randomBlocks(d, rng, 5000), SMALL))).toEqual(node);
      });
    }
  });

  test("empty and one-byte blobs", async () => {
    expect(await collectManifest(chunkBlob(new Blob([])))).toEqual({ size: 0, chunks: [] });
    const one = await collectManifest(chunkBlob(new Blob([new Uint8Array([0x61])])));
    expect(one).toEqual(await collectManifest(chunkStream([new Uint8Array([0x61])])));
  });
});

describe("scanFile", () => {
  const scan = async (opts: ScanFileOptions, hold: boolean) => {
    const fh = await open(file, "r");
    const chunks: Manifest["chunks"] = [];
    const held: ScannedChunk[] = [];
    let stalls = 0;
    try {
      const size = await scanFile(
        fh,
        hold
          ? { ...opts, keep: { maxBlocks: 3, onStall: () => (stalls++, held.splice(0).forEach((c) => c.release())) } }
          : opts,
        (c) => {
          chunks.push({ id: c.id, size: c.size });
          if (opts.keep || hold) {
            // The bytes handed out are the chunk's bytes.
            expect(c.data).not.toBeNull();
            expect(sha256Hex(c.data!)).toBe(c.id);
            held.push(c);
          } else {
            expect(c.data).toBeNull();
          }
        },
      );
      held.forEach((c) => c.release());
      return { manifest: { size, chunks }, stalls };
    } finally {
      await fh.close();
    }
  };

  test("gives the same chunks as chunkFile, with reads that cut through chunks", async () => {
    const expected = expectedManifest(data);
    for (const blockSize of [8 * MiB, 3 * MiB + 17, 1 * MiB]) {
      expect((await scan({ blockSize }, false)).manifest).toEqual(expected);
    }
  });

  test("hands out each chunk's bytes and waits for releases when every block is pinned", async () => {
    const expected = expectedManifest(data);
    for (const blockSize of [8 * MiB, 2 * MiB + 3]) {
      const r = await scan({ blockSize }, true);
      expect(r.manifest).toEqual(expected);
      // 3 blocks of 8 MiB hold the whole 20 MiB file; 4 of 2 MiB run out.
      if (blockSize < 8 * MiB) expect(r.stalls).toBeGreaterThan(0);
    }
    const smallExpected = expectedManifest(data, SMALL);
    expect((await scan({ ...SMALL, blockSize: 5000 }, true)).manifest).toEqual(smallExpected);
  });

  describe("with a hash worker", () => {
    let worker: ChunkHashWorker;
    beforeAll(() => {
      worker = new ChunkHashWorker();
    });
    afterAll(async () => {
      await worker.close();
    });

    test("gives the same chunks, in order, including chunks that span several blocks", async () => {
      for (const [opts, expected] of [
        [{ blockSize: 8 * MiB }, expectedManifest(data)],
        [{ blockSize: 1 * MiB + 7 }, expectedManifest(data)],
        // Many tiny blocks: most chunks are pieces of two or three blocks.
        [{ ...SMALL, blockSize: 3001 }, expectedManifest(data, SMALL)],
      ] as const) {
        const got = await scan({ ...opts, hashWorker: worker }, false);
        expect(got.manifest).toEqual(expected);
      }
    });

    test("calls onChunk in order, one at a time, and its error ends the scan", async () => {
      const fh = await open(file, "r");
      try {
        const seen: number[] = [];
        let inCall = false;
        const scanning = scanFile(fh, { ...SMALL, blockSize: 64 * 1024, hashWorker: worker }, async (c) => {
          expect(inCall).toBe(false);
          inCall = true;
          seen.push(c.index);
          await new Promise((r) => setTimeout(r, 0));
          inCall = false;
          if (c.index === 40) throw new Error("consumer failed");
        });
        await expect(scanning).rejects.toThrow("consumer failed");
        expect(seen).toEqual(Array.from({ length: 41 }, (_, i) => i));
      } finally {
        await fh.close();
      }
    });

    test("is refused together with keep, and refuses buffers that are not shared", async () => {
      const fh = await open(file, "r");
      try {
        await expect(scanFile(fh, { hashWorker: worker, keep: { maxBlocks: 3 } }, () => {})).rejects.toThrow(
          /cannot be combined/,
        );
      } finally {
        await fh.close();
      }
      expect(() => worker.hash([{ buf: Buffer.alloc(4), start: 0, end: 4 }])).toThrow(/SharedArrayBuffer/);
      // Still usable afterwards.
      const shared = Buffer.from(new SharedArrayBuffer(3));
      shared.write("abc");
      expect(await worker.hash([{ buf: shared, start: 0, end: 3 }])).toBe(sha256Hex(Buffer.from("abc")));
    });

    test("scanBigOrSmallFile uses a worker of its own for a big file and gives the same chunks", async () => {
      const big = join(dir, "big.bin");
      const bytes = randomBytes(BASE_SEED + 8, HASH_WORKER_MIN_BYTES + 3 * MiB + 5);
      await writeFile(big, bytes);
      const fh = await open(big, "r");
      try {
        const chunks: Manifest["chunks"] = [];
        const size = await scanBigOrSmallFile(fh, bytes.length, {}, (c) => {
          chunks.push({ id: c.id, size: c.size });
        });
        expect({ size, chunks }).toEqual(expectedManifest(bytes));
      } finally {
        await fh.close();
        await rm(big, { force: true });
      }
    });
  });

  test("refuses a bad block size", async () => {
    const fh = await open(file, "r");
    try {
      await expect(scanFile(fh, { blockSize: 0 }, () => {})).rejects.toThrow(/blockSize/);
    } finally {
      await fh.close();
    }
  });
});
