import { readdir, readFile, writeFile, mkdir, open as openFile, statfs } from "node:fs/promises";
import path from "node:path";
import { buffer } from "node:stream/consumers";
import { afterEach, describe, expect, it } from "vitest";
import { AppError } from "@cumulus/protocol/errors";
import { MAX_CHUNK_BYTES } from "@cumulus/protocol/ids";
import type { ChunkStore } from "./chunk-store.ts";
import { DiskChunkStore } from "./disk-chunk-store.ts";
import { MemoryChunkStore } from "./memory-chunk-store.ts";
import { chunksOf, makeChunk, tempDir } from "../testing/util.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function openDisk(opts: { capacityBytes?: number } = {}): Promise<{ store: DiskChunkStore; dir: string }> {
  const { dir, cleanup } = await tempDir();
  cleanups.push(cleanup);
  const store = await DiskChunkStore.open({ dataDir: dir, nodeName: "node-t", ...opts });
  return { store, dir };
}

async function expectAppError(p: Promise<unknown>, code: string): Promise<AppError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  expect((err as AppError).code).toBe(code);
  return err as AppError;
}

const factories: [string, (o?: { capacityBytes?: number }) => Promise<ChunkStore>][] = [
  ["DiskChunkStore", async (o) => (await openDisk(o)).store],
  ["MemoryChunkStore", async (o) => new MemoryChunkStore({ nodeName: "node-t", ...o })],
];

describe.each(factories)("%s contract", (_name, make) => {
  it("round-trips a chunk, whole and by range", async () => {
    const store = await make();
    const { id, data } = makeChunk(300_000);
    const r = await store.put(id, chunksOf(data, 7_777), data.length);
    expect(r).toEqual({ id, size: data.length, created: true });
    expect(await store.stat(id)).toMatchObject({ id, size: data.length });
    const h = await store.open(id);
    expect(h?.size).toBe(data.length);
    expect((await buffer(h!.readAll())).equals(data)).toBe(true);
    const h2 = await store.open(id);
    expect((await buffer(await h2!.readRange(1000, 1999))).equals(data.subarray(1000, 2000))).toBe(true);
    expect(store.usage()).toMatchObject({ usedBytes: data.length, chunkCount: 1 });
  });

  it("refuses a body that does not hash to the id and stores nothing", async () => {
    const store = await make();
    const { id } = makeChunk(1000);
    const other = makeChunk(1000).data;
    const err = await expectAppError(store.put(id, chunksOf(other), other.length), "HASH_MISMATCH");
    expect(err.httpStatus).toBe(422);
    expect(await store.stat(id)).toBeNull();
    expect(await store.open(id)).toBeNull();
    expect(store.usage()).toMatchObject({ usedBytes: 0, chunkCount: 0 });
  });

  it("refuses a body shorter than declared (TRUNCATED)", async () => {
    const store = await make();
    const { id, data } = makeChunk(5000);
    await expectAppError(store.put(id, chunksOf(data.subarray(0, 4000)), data.length), "TRUNCATED");
    expect(await store.stat(id)).toBeNull();
    expect(store.usage().chunkCount).toBe(0);
  });

  it("refuses declared sizes above MAX_CHUNK_BYTES before reading", async () => {
    const store = await make();
    let pulled = false;
    async function* body() {
      pulled = true;
      yield new Uint8Array(1);
    }
    await expectAppError(store.put("a".repeat(64), body(), MAX_CHUNK_BYTES + 1), "PAYLOAD_TOO_LARGE");
    expect(pulled).toBe(false);
  });

  it("is idempotent and consistent under concurrent puts of the same chunk", async () => {
    const store = await make();
    const { id, data } = makeChunk(200_000);
    const results = await Promise.all(
      Array.from({ length: 6 }, () => store.put(id, chunksOf(data, 4096), data.length)),
    );
    expect(results.every((r) => r.id === id && r.size === data.length)).toBe(true);
    expect(store.usage()).toMatchObject({ usedBytes: data.length, chunkCount: 1 });
    expect((await buffer((await store.open(id))!.readAll())).equals(data)).toBe(true);
    const again = await store.put(id, chunksOf(data), data.length);
    expect(again.created).toBe(false);
    expect(store.usage()).toMatchObject({ usedBytes: data.length, chunkCount: 1 });
  });

  it("refuses writes beyond capacity with DISK_FULL naming the node", async () => {
    const store = await make({ capacityBytes: 1500 });
    const a = makeChunk(1000);
    await store.put(a.id, chunksOf(a.data), a.data.length);
    const b = makeChunk(1000);
    const err = await expectAppError(store.put(b.id, chunksOf(b.data), b.data.length), "DISK_FULL");
    expect(err.httpStatus).toBe(507);
    expect(err.message).toContain("node-t");
    expect(await store.stat(b.id)).toBeNull();
    expect(store.usage()).toMatchObject({ usedBytes: 1000, chunkCount: 1, availableBytes: 500 });
    expect(await store.measureUsage()).toMatchObject({ availableBytes: 500 });
    // Re-putting a present chunk needs no space.
    await store.put(a.id, chunksOf(a.data), a.data.length);
  });

  it("lists in id order with a cursor and deletes", async () => {
    const store = await make();
    const chunks = Array.from({ length: 7 }, (_, i) => makeChunk(100 + i));
    for (const c of chunks) await store.put(c.id, chunksOf(c.data), c.data.length);
    const sorted = chunks.map((c) => c.id).sort();
    const page1 = await store.list(null, 3);
    expect(page1.map((c) => c.id)).toEqual(sorted.slice(0, 3));
    const page2 = await store.list(page1[2]!.id, 10);
    expect(page2.map((c) => c.id)).toEqual(sorted.slice(3));
    expect(await store.delete(sorted[0]!)).toBe(true);
    expect(await store.delete(sorted[0]!)).toBe(false);
    expect(store.usage().chunkCount).toBe(6);
    expect((await store.list(null, 100)).map((c) => c.id)).toEqual(sorted.slice(1));
  });
});

describe("DiskChunkStore on disk", () => {
  it("lays chunks out as chunks/ab/cd/<id> and leaves tmp/ empty", async () => {
    const { store, dir } = await openDisk();
    const { id, data } = makeChunk(4096);
    await store.put(id, chunksOf(data), data.length);
    const file = path.join(dir, "chunks", id.slice(0, 2), id.slice(2, 4), id);
    expect((await readFile(file)).equals(data)).toBe(true);
    expect(await readdir(path.join(dir, "tmp"))).toEqual([]);
  });

  it("removes the temp file when a put fails", async () => {
    const { store, dir } = await openDisk();
    const { id, data } = makeChunk(100_000);
    await expectAppError(store.put(id, chunksOf(Buffer.alloc(100_000)), data.length), "HASH_MISMATCH");
    await expectAppError(store.put(id, chunksOf(data.subarray(0, 10)), data.length), "TRUNCATED");
    expect(await readdir(path.join(dir, "tmp"))).toEqual([]);
    // Fan-out directories may exist (made up front and while the body arrives), chunk files not.
    const entries = await readdir(path.join(dir, "chunks"), { recursive: true, withFileTypes: true });
    expect(entries.filter((e) => !e.isDirectory())).toEqual([]);
  });

  it("holds capacity for staged chunks until they are committed or discarded, and leaves no temp files", async () => {
    const { store, dir } = await openDisk({ capacityBytes: 3000 });
    const tmpFiles = () => readdir(path.join(dir, "tmp"));
    const [a, b, c, d, e] = [makeChunk(1000), makeChunk(1000), makeChunk(1500), makeChunk(200), makeChunk(500)];
    const sa = await store.stage!(a.id, chunksOf(a.data), a.data.length);
    const sb = await store.stage!(b.id, chunksOf(b.data), b.data.length);
    expect((await tmpFiles()).length).toBe(2);
    // 2000 bytes reserved by the staged pair: 1500 more do not fit.
    await expectAppError(store.put(c.id, chunksOf(c.data), c.data.length), "DISK_FULL");
    await store.discardStaged!([sb]);
    expect(await tmpFiles()).toHaveLength(1);
    expect(await store.commitStaged!([sa])).toEqual([{ id: a.id, size: a.data.length, created: true }]);
    expect(await tmpFiles()).toEqual([]);
    // Both reservations released: 1000 used + 1500 fit in 3000.
    await store.put(c.id, chunksOf(c.data), c.data.length);
    await expectAppError(store.stage!(d.id, chunksOf(Buffer.alloc(200)), d.data.length), "HASH_MISMATCH");
    expect(await tmpFiles()).toEqual([]);
    // A present chunk reserves nothing; results follow the input order.
    const se = await store.stage!(e.id, chunksOf(e.data), e.data.length);
    const sa2 = await store.stage!(a.id, chunksOf(a.data), a.data.length);
    expect(await store.commitStaged!([se, sa2])).toEqual([
      { id: e.id, size: e.data.length, created: true },
      { id: a.id, size: a.data.length, created: false },
    ]);
    expect(store.usage()).toMatchObject({ usedBytes: 3000, chunkCount: 3 });
    expect(await tmpFiles()).toEqual([]);
    expect(await buffer((await store.open(e.id))!.readAll())).toEqual(e.data);
  });

  it("stages in-memory chunks like streamed ones: verified first, capacity held, mixed commits in order", async () => {
    const { store, dir } = await openDisk({ capacityBytes: 150_000 });
    const tmpFiles = () => readdir(path.join(dir, "tmp"));
    // The last one is above the synchronous-write limit and takes the streamed path.
    const [a, b, c, big] = [makeChunk(4096), makeChunk(4096), makeChunk(1000), makeChunk(100_000)];
    // A bad chunk: refused before anything is written or reserved.
    await expectAppError(store.stageBytes!(a.id, b.data), "HASH_MISMATCH");
    await expectAppError(store.stageBytes!(big.id, Buffer.alloc(100_000)), "HASH_MISMATCH");
    expect(await tmpFiles()).toEqual([]);
    const sa = await store.stageBytes!(a.id, a.data);
    const sb = await store.stageBytes!(b.id, b.data);
    const sc = await store.stage!(c.id, chunksOf(c.data), c.data.length);
    const sbig = await store.stageBytes!(big.id, big.data);
    expect(await tmpFiles()).toHaveLength(4);
    // Staged but not committed: invisible, and its bytes held against the capacity.
    expect(await store.stat(a.id)).toBeNull();
    const tooMuch = makeChunk(60_000);
    await expectAppError(store.stageBytes!(tooMuch.id, tooMuch.data), "DISK_FULL");
    await store.discardStaged!([sb]);
    expect(await tmpFiles()).toHaveLength(3);
    expect(await store.commitStaged!([sa, sc, sbig])).toEqual([
      { id: a.id, size: a.data.length, created: true },
      { id: c.id, size: c.data.length, created: true },
      { id: big.id, size: big.data.length, created: true },
    ]);
    expect(await tmpFiles()).toEqual([]);
    expect(store.usage()).toMatchObject({ usedBytes: 4096 + 1000 + 100_000, chunkCount: 3 });
    // Rewriting a present chunk reserves nothing and reports it was there.
    expect(await store.commitStaged!([await store.stageBytes!(a.id, a.data)])).toEqual([
      { id: a.id, size: a.data.length, created: false },
    ]);
    expect(store.usage()).toMatchObject({ usedBytes: 4096 + 1000 + 100_000, chunkCount: 3 });
    for (const x of [a, c, big]) expect(await buffer((await store.open(x.id))!.readAll())).toEqual(x.data);
    // Marked verified at commit: a range read needs no hashing pass, and survives a restart.
    expect((await buffer(await (await store.open(a.id))!.readRange(0, 9))).equals(a.data.subarray(0, 10))).toBe(true);
    await store.close();
    const reopened = await DiskChunkStore.open({ dataDir: dir, nodeName: "node-t" });
    expect(reopened.usage()).toMatchObject({ usedBytes: 4096 + 1000 + 100_000, chunkCount: 3 });
    expect(await buffer((await reopened.open(a.id))!.readAll())).toEqual(a.data);
  });

  it("drops a batch still staged when the store closes instead of leaving its file open", async () => {
    const { store, dir } = await openDisk();
    const tmpFiles = () => readdir(path.join(dir, "tmp"));
    const f = makeChunk(300);
    await store.stage!(f.id, chunksOf(f.data), f.data.length);
    const g = makeChunk(300);
    await store.stageBytes!(g.id, g.data);
    expect(await tmpFiles()).toHaveLength(2);
    await store.close();
    expect(await tmpFiles()).toEqual([]);
    expect(await store.stat(f.id)).toBeNull();
    expect(await store.stat(g.id)).toBeNull();
  });

  it("reports as available no more than the file system has free, however large its capacity", async () => {
    const { store, dir } = await openDisk({ capacityBytes: Number.MAX_SAFE_INTEGER });
    const usage = await store.measureUsage();
    const fs = await statfs(dir);
    expect(usage.availableBytes).toBeLessThanOrEqual(fs.bavail * fs.bsize * 1.01);
    expect(usage.availableBytes).toBeGreaterThan(0);
    expect(usage.capacityBytes).toBe(Number.MAX_SAFE_INTEGER);
    await store.close();
  });

  it("cleans stale temp files at start and rebuilds usage by scanning", async () => {
    const { store, dir } = await openDisk();
    const chunks = [makeChunk(1234), makeChunk(4321)];
    for (const c of chunks) await store.put(c.id, chunksOf(c.data), c.data.length);
    await store.close();
    await writeFile(path.join(dir, "tmp", "deadbeef.123"), "half a chunk");
    await mkdir(path.join(dir, "tmp", "weird-dir"));
    const reopened = await DiskChunkStore.open({ dataDir: dir, nodeName: "node-t" });
    expect(await readdir(path.join(dir, "tmp"))).toEqual([]);
    expect(reopened.usage()).toMatchObject({ usedBytes: 1234 + 4321, chunkCount: 2 });
  });

  it("never serves a corrupt chunk: the stream errors instead of ending, then the chunk is gone", async () => {
    const corrupt: string[] = [];
    const { dir, cleanup } = await tempDir();
    cleanups.push(cleanup);
    const store = await DiskChunkStore.open({ dataDir: dir, nodeName: "node-t", onCorrupt: (id) => corrupt.push(id) });
    const { id, data } = makeChunk(600_000);
    await store.put(id, chunksOf(data), data.length);
    await flipByte(path.join(dir, "chunks", id.slice(0, 2), id.slice(2, 4), id), 599_999);

    const h = await store.open(id);
    const received: Buffer[] = [];
    const stream = h!.readAll();
    stream.on("data", (b: Buffer) => received.push(b));
    await expect(new Promise((resolve, reject) => stream.on("end", resolve).on("error", reject))).rejects.toThrow(
      /failed verification/,
    );
    // The corrupted last byte was never released to the reader.
    expect(Buffer.concat(received).length).toBeLessThan(data.length);
    expect(corrupt).toEqual([id]);
    expect(await store.open(id)).toBeNull();
    expect(await store.list(null, 10)).toEqual([]);
    await waitFor(async () => (await readdir(path.join(dir, "corrupt"))).length === 1);
    expect(store.usage()).toMatchObject({ usedBytes: 0, chunkCount: 0 });

    // A later good PUT heals it.
    await store.put(id, chunksOf(data), data.length);
    expect((await buffer((await store.open(id))!.readAll())).equals(data)).toBe(true);
  });

  it("verifies before serving a range, and caches the verification", async () => {
    const { store, dir } = await openDisk();
    const { id, data } = makeChunk(100_000);
    await store.put(id, chunksOf(data), data.length);
    const file = path.join(dir, "chunks", id.slice(0, 2), id.slice(2, 4), id);

    // Fresh process: nothing verified yet.
    await store.close();
    const fresh = await DiskChunkStore.open({ dataDir: dir, nodeName: "node-t" });
    expect((await buffer(await (await fresh.open(id))!.readRange(0, 9))).equals(data.subarray(0, 10))).toBe(true);

    await flipByte(file, 50_000);
    // flipByte changes the mtime, so the cached verification no longer applies.
    const err = await expectAppError((await fresh.open(id))!.readRange(0, 9), "NOT_FOUND");
    expect(err.message).toContain("quarantined");
    expect(await fresh.open(id)).toBeNull();
  });
});

async function flipByte(file: string, offset: number): Promise<void> {
  const fh = await openFile(file, "r+");
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, offset);
  b[0] = b[0]! ^ 0xff;
  await fh.write(b, 0, 1, offset);
  await fh.close();
  // Make sure the mtime moves even on coarse-grained filesystems.
  const { utimes } = await import("node:fs/promises");
  const later = new Date(Date.now() + 5_000);
  await utimes(file, later, later);
}

async function waitFor(cond: () => Promise<boolean>, timeoutMs = 2000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
