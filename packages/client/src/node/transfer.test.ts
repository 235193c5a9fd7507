import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AppError } from "@cumulus/protocol/errors";
import { CumulusClient } from "../client.ts";
import type { TransferProgress } from "../progress.ts";
import { startFakeCluster, type FakeCluster } from "../testing/fake-cluster.ts";
import { downloadFile, PARTIAL_SUFFIX } from "./download-file.ts";
import { chunkLocalFile, uploadFile } from "./upload-file.ts";

let fc: FakeCluster;
let client: CumulusClient;
let dir: string;
// Random data: FastCDC (256 KiB min, 1 MiB avg) cuts 6 MiB into several chunks.
const SIZE = 6 * 1024 * 1024;
let src: string;
let content: Buffer;

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "cumulus-client-test-"));
  content = randomBytes(SIZE);
  src = path.join(dir, "src.bin");
  await writeFile(src, content);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  fc = await startFakeCluster();
  client = new CumulusClient({ server: fc.url, token: "good-token" });
});

afterEach(async () => {
  await fc.close();
});

const fast = { retryBaseMs: 1 };

/** A first upload of `src`: every byte and chunk sent, none skipped, version 1. */
function expectFirstUpload(r: Awaited<ReturnType<typeof uploadFile>>, chunks: number): void {
  expect(r).toMatchObject({
    bytesTotal: SIZE,
    bytesUploaded: SIZE,
    chunksTotal: chunks,
    chunksUploaded: chunks,
    chunksSkipped: 0,
    version: 1,
  });
}

describe("uploadFile", () => {
  it("uploads every chunk once, through the first node of its pipeline, then deduplicates", async () => {
    const manifest = await chunkLocalFile(src);
    expect(manifest.chunks.length).toBeGreaterThan(2);
    const events: TransferProgress[] = [];
    const r = await uploadFile(client, {
      localPath: src,
      remotePath: "/a.bin",
      onProgress: (p) => events.push(p),
      ...fast,
    });
    expectFirstUpload(r, manifest.chunks.length);
    expect(fc.nodes[0]!.puts).toBe(manifest.chunks.length);
    expect(fc.nodes[2]!.chunks.size).toBe(manifest.chunks.length);
    expect(events.some((e) => e.phase === "hashing")).toBe(true);
    expect(events.at(-1)).toMatchObject({ phase: "done", bytesDone: SIZE });

    const again = await uploadFile(client, { localPath: src, remotePath: "/a.bin", overwrite: true, ...fast });
    expect(again).toMatchObject({
      chunksUploaded: 0,
      bytesUploaded: 0,
      chunksSkipped: manifest.chunks.length,
      version: 2,
    });
  });

  it("without overwrite refuses to replace an existing file", async () => {
    await uploadFile(client, { localPath: src, remotePath: "/a.bin", ...fast });
    const err = await uploadFile(client, { localPath: src, remotePath: "/a.bin", ...fast }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe("CONFLICT");
  });

  it("retries a failing pipeline PUT with backoff", async () => {
    // Two failures in a row: the third (last) attempt on the same pipeline succeeds.
    fc.nodes[0]!.failPuts = 2;
    const r = await uploadFile(client, { localPath: src, remotePath: "/a.bin", concurrency: 1, ...fast });
    expect(r.version).toBe(1);
    expect(fc.begins).toBe(1);
    expect(fc.nodes[0]!.puts).toBe(r.chunksUploaded + 2);
  });

  it("asks for a fresh pipeline when one keeps failing", async () => {
    fc.nodes[0]!.failPuts = 1_000;
    fc.pipelineFor = (call) => (call === 0 ? [0, 2] : [1, 2]);
    const r = await uploadFile(client, { localPath: src, remotePath: "/a.bin", ...fast });
    expect(r.version).toBe(1);
    expect(fc.begins).toBe(2);
    expect(fc.nodes[1]!.chunks.size).toBe(r.chunksTotal);
  });

  it("restarts at once on an expired token and gives up after the restarts", async () => {
    fc.nodes[0]!.putError = "TOKEN_EXPIRED";
    const err = await uploadFile(client, { localPath: src, remotePath: "/a.bin", restarts: 2, ...fast }).catch(
      (e: unknown) => e,
    );
    expect((err as AppError).code).toBe("TOKEN_EXPIRED");
    expect(fc.begins).toBe(3);
  });

  it("fails fast on an error that a retry cannot fix", async () => {
    fc.nodes[0]!.putError = "BAD_REQUEST";
    const err = await uploadFile(client, { localPath: src, remotePath: "/a.bin", ...fast }).catch((e: unknown) => e);
    expect((err as AppError).code).toBe("BAD_REQUEST");
    expect(fc.begins).toBe(1);
  });

  it("re-sends journaled chunks whose receipts the control plane refuses", async () => {
    const journalDir = path.join(dir, "journal-" + Math.random().toString(36).slice(2));
    const total = (await chunkLocalFile(src)).chunks.length;
    const ac = new AbortController();
    const first = await uploadFile(client, {
      localPath: src,
      remotePath: "/r.bin",
      journalDir,
      concurrency: 1,
      signal: ac.signal,
      onProgress: (p) => {
        if (p.phase === "uploading" && p.chunksTransferred === 2) ac.abort(new AppError("UNAVAILABLE", "interrupted"));
      },
      ...fast,
    }).catch((e: unknown) => e);
    expect((first as AppError).message).toBe("interrupted");
    expect((await readdir(journalDir)).filter((n) => n.endsWith(".json"))).toHaveLength(1);

    // The nodes lost what was sent before the interruption: the journaled receipts are
    // stale, the commit refuses them, and exactly those chunks are sent again.
    for (const n of fc.nodes) n.chunks.clear();
    const putsBefore = fc.nodes[0]!.puts;
    const again = await uploadFile(client, { localPath: src, remotePath: "/r.bin", journalDir, ...fast });
    expect(again).toMatchObject({ version: 1, chunksTotal: total });
    expect(fc.nodes[0]!.puts - putsBefore).toBe(total);
    expect(fc.begins).toBe(3);
    expect(await readdir(journalDir)).toEqual([]);
  });

  it("commits journaled receipts of an interrupted run and sends only the rest", async () => {
    const journalDir = path.join(dir, "journal-" + Math.random().toString(36).slice(2));
    const total = (await chunkLocalFile(src)).chunks.length;
    const ac = new AbortController();
    await uploadFile(client, {
      localPath: src,
      remotePath: "/r.bin",
      journalDir,
      concurrency: 1,
      signal: ac.signal,
      onProgress: (p) => {
        if (p.phase === "uploading" && p.chunksTransferred === 2) ac.abort(new AppError("UNAVAILABLE", "interrupted"));
      },
      ...fast,
    }).catch(() => undefined);
    const putsBefore = fc.nodes[0]!.puts;
    const r = await uploadFile(client, { localPath: src, remotePath: "/r.bin", journalDir, ...fast });
    expect(r).toMatchObject({ version: 1, chunksTotal: total, chunksUploaded: total - 2, chunksSkipped: 2 });
    expect(fc.nodes[0]!.puts - putsBefore).toBe(total - 2);
    expect(Object.keys(fc.commits.at(-1)!.receipts)).toHaveLength(total);
    expect(await readdir(journalDir)).toEqual([]);
  });

  it("re-sends only the chunks whose receipts the commit refused", async () => {
    const manifest = await chunkLocalFile(src);
    fc.rejectReceiptsOnce.add(manifest.chunks[1]!.id);
    const r = await uploadFile(client, { localPath: src, remotePath: "/s.bin", ...fast });
    expect(r.version).toBe(1);
    expect(fc.begins).toBe(2);
    expect(fc.nodes[0]!.puts).toBe(manifest.chunks.length + 1);
    expect(r.chunksUploaded).toBe(manifest.chunks.length);
  });

  it("sends chunks while still chunking (batched plans), commits them once, and resumes", async () => {
    const early = { presendMinBytes: 0, ...fast };
    const manifest = await chunkLocalFile(src);
    const events: TransferProgress[] = [];
    const r = await uploadFile(client, {
      localPath: src,
      remotePath: "/p.bin",
      onProgress: (p) => events.push(p),
      ...early,
    });
    expectFirstUpload(r, manifest.chunks.length);
    // Every chunk sent exactly once, during the first pass (batches of 4, 8, …), then one
    // plan of the whole manifest and one commit with every chunk's receipts.
    expect(fc.nodes[0]!.puts).toBe(manifest.chunks.length);
    expect(fc.begins).toBe(Math.ceil(manifest.chunks.length / 4) > 1 ? 3 : 2);
    expect(fc.commits).toHaveLength(1);
    expect(Object.keys(fc.commits[0]!.receipts).sort()).toEqual([...new Set(manifest.chunks.map((c) => c.id))].sort());
    expect(events.at(-1)).toMatchObject({ phase: "done", bytesDone: SIZE });
    const got = path.join(dir, "p.out");
    await downloadFile(client, { remotePath: "/p.bin", localPath: got, ...fast });
    expect(sha(await readFile(got))).toBe(sha(content));

    // Deduplicated: nothing sent again.
    const again = await uploadFile(client, { localPath: src, remotePath: "/p.bin", overwrite: true, ...early });
    expect(again).toMatchObject({ chunksUploaded: 0, chunksSkipped: manifest.chunks.length, version: 2 });
    expect(fc.nodes[0]!.puts).toBe(manifest.chunks.length);

    // Interrupted in the first pass: the journal keeps what was sent, a re-run sends the rest.
    const journalDir = path.join(dir, "journal-" + Math.random().toString(36).slice(2));
    const other = path.join(dir, "other.bin");
    await writeFile(other, randomBytes(SIZE));
    const total = (await chunkLocalFile(other)).chunks.length;
    const ac = new AbortController();
    const first = await uploadFile(client, {
      localPath: other,
      remotePath: "/q.bin",
      journalDir,
      concurrency: 1,
      signal: ac.signal,
      onProgress: (p) => {
        if (p.chunksTransferred === 2) ac.abort(new AppError("UNAVAILABLE", "interrupted"));
      },
      ...early,
    }).catch((e: unknown) => e);
    expect((first as AppError).message).toBe("interrupted");
    expect(fc.commits).toHaveLength(2);
    const putsBefore = fc.nodes[0]!.puts;
    const resumed = await uploadFile(client, { localPath: other, remotePath: "/q.bin", journalDir, ...early });
    expect(resumed).toMatchObject({ version: 1, chunksTotal: total, chunksUploaded: total - 2, chunksSkipped: 2 });
    expect(fc.nodes[0]!.puts - putsBefore).toBe(total - 2);
    expect(await readdir(journalDir)).toEqual([]);
  });

  it("stops at once when a batch plan is refused for good (conflict)", async () => {
    await uploadFile(client, { localPath: src, remotePath: "/c.bin", ...fast });
    const err = await uploadFile(client, {
      localPath: src,
      remotePath: "/c.bin",
      baseVersion: 7,
      presendMinBytes: 0,
      ...fast,
    }).catch((e: unknown) => e);
    expect((err as AppError).code).toBe("CONFLICT");
    expect(fc.commits).toHaveLength(1);
  });

  it("names a missing local file", async () => {
    const err = await uploadFile(client, { localPath: path.join(dir, "nope"), remotePath: "/n", ...fast }).catch(
      (e: unknown) => e,
    );
    expect((err as AppError).code).toBe("NOT_FOUND");
    expect((err as AppError).message).toContain("no such local file or folder");
  });
});

describe("downloadFile", () => {
  beforeEach(async () => {
    await uploadFile(client, { localPath: src, remotePath: "/d.bin", ...fast });
  });

  it("writes a byte-identical file via a partial file", async () => {
    const dest = path.join(dir, "out-1.bin");
    const r = await downloadFile(client, { remotePath: "/d.bin", localPath: dest });
    expect(r).toMatchObject({ bytesTotal: SIZE, version: 1 });
    expect(sha(await readFile(dest))).toBe(sha(content));
    expect(await readdir(dir).then((n) => n.filter((x) => x.endsWith(PARTIAL_SUFFIX)))).toEqual([]);
  });

  it("stays byte-identical with background syncs running between the writes", async () => {
    const dest = path.join(dir, "out-wb.bin");
    // A sync after every chunk, while the other chunks in flight are still being written.
    const r = await downloadFile(client, { remotePath: "/d.bin", localPath: dest, writebackBytes: 1, concurrency: 4 });
    expect(r.chunksDownloaded).toBeGreaterThan(1);
    expect(sha(await readFile(dest))).toBe(sha(content));
  });

  it("falls back to the next replica when the first returns corrupt or truncated bytes", async () => {
    const ids = [...fc.nodes[0]!.chunks.keys()];
    fc.nodes[0]!.corrupt.add(ids[0]!);
    fc.nodes[0]!.truncate.add(ids[1]!);
    const failed: string[] = [];
    const dest = path.join(dir, "out-2.bin");
    await downloadFile(client, {
      remotePath: "/d.bin",
      localPath: dest,
      onReplicaError: (e) => failed.push(`${e.node}:${(e.error as AppError).code}`),
    });
    expect(sha(await readFile(dest))).toBe(sha(content));
    expect(failed.sort()).toEqual(["hq-1:HASH_MISMATCH", "hq-1:TRUNCATED"]);
  });

  it("falls back when a replica is unreachable", async () => {
    fc.nodes[0]!.server.closeAllConnections();
    await new Promise((r) => fc.nodes[0]!.server.close(r));
    const dest = path.join(dir, "out-3.bin");
    await downloadFile(client, { remotePath: "/d.bin", localPath: dest });
    expect(sha(await readFile(dest))).toBe(sha(content));
  });

  it("never writes the destination when no replica has intact bytes", async () => {
    const id = [...fc.nodes[0]!.chunks.keys()][0]!;
    for (const n of fc.nodes) n.corrupt.add(id);
    const dest = path.join(dir, "out-4.bin");
    await writeFile(dest, "old content");
    const err = await downloadFile(client, { remotePath: "/d.bin", localPath: dest, retryBaseMs: 1 }).catch(
      (e: unknown) => e,
    );
    expect((err as AppError).code).toBe("UNAVAILABLE");
    expect((err as AppError).message).toMatch(/no replica returned chunk .* intact/);
    expect(await readFile(dest, "utf8")).toBe("old content");
    expect(await readdir(dir).then((n) => n.filter((x) => x.endsWith(PARTIAL_SUFFIX)))).toEqual([]);
  });

  it("with resume, keeps the partial file of a failed run and fetches only the chunks it lacks", async () => {
    const ids = [...fc.nodes[0]!.chunks.keys()];
    expect(ids.length).toBeGreaterThan(2);
    for (const n of fc.nodes) n.corrupt.add(ids[1]!);
    const dest = path.join(dir, "out-resume.bin");
    const err = await downloadFile(client, {
      remotePath: "/d.bin",
      localPath: dest,
      resume: true,
      retryBaseMs: 1,
    }).catch((e: unknown) => e);
    expect((err as AppError).code).toBe("UNAVAILABLE");
    expect((await readFile(dest + PARTIAL_SUFFIX)).length).toBe(SIZE); // kept for the next run
    for (const n of fc.nodes) n.corrupt.delete(ids[1]!);
    const r = await downloadFile(client, { remotePath: "/d.bin", localPath: dest, resume: true });
    expect(sha(await readFile(dest))).toBe(sha(content));
    expect(r.chunksSkipped).toBeGreaterThan(0);
    expect(r.chunksDownloaded + r.chunksSkipped).toBe(r.chunksTotal);
    expect(await readdir(dir).then((n) => n.filter((x) => x.endsWith(PARTIAL_SUFFIX)))).toEqual([]);
  });

  it("downloads an empty file", async () => {
    const empty = path.join(dir, "empty");
    await writeFile(empty, "");
    await uploadFile(client, { localPath: empty, remotePath: "/empty", ...fast });
    const dest = path.join(dir, "empty-out");
    await downloadFile(client, { remotePath: "/empty", localPath: dest });
    expect((await readFile(dest)).length).toBe(0);
  });
});

describe("stale receipts and local changes", () => {
  it("re-sends every chunk a re-registered node had confirmed (STALE_EPOCH names the node)", async () => {
    const manifest = await chunkLocalFile(src);
    fc.commitErrorOnce = (chunks) =>
      new AppError(
        "STALE_EPOCH",
        `the receipt from node hq-1 for chunk ${chunks[0]} is from epoch 1, but the node has registered again since (epoch 2): upload the chunk again`,
      );
    const r = await uploadFile(client, { localPath: src, remotePath: "/st.bin", ...fast });
    expect(r.version).toBe(1);
    expect(fc.begins).toBe(2);
    expect(fc.nodes[0]!.puts).toBe(2 * manifest.chunks.length);
  });

  it("does not retry a conflict", async () => {
    fc.commitErrorOnce = () =>
      new AppError("CONFLICT", "/c.bin changed since version 1 (now 2): fetch the new version and merge first");
    const err = await uploadFile(client, { localPath: src, remotePath: "/c.bin", ...fast }).catch((e: unknown) => e);
    expect((err as AppError).code).toBe("CONFLICT");
    expect(fc.begins).toBe(1);
  });

  it("refuses to commit a file that changed while it was being uploaded", async () => {
    const p = path.join(dir, "changing.bin");
    await writeFile(p, randomBytes(SIZE));
    let changed = false;
    const err = await uploadFile(client, {
      localPath: p,
      remotePath: "/changing.bin",
      concurrency: 1,
      onProgress: (ev) => {
        if (ev.phase === "uploading" && !changed) {
          changed = true;
          void writeFile(p, randomBytes(SIZE));
        }
      },
      ...fast,
    }).catch((e: unknown) => e);
    expect((err as AppError).code).toBe("CONFLICT");
    expect((err as AppError).message).toContain("changed while it was being uploaded");
    expect(fc.commits).toHaveLength(0);
  });
});

describe("single pass (chunk hashes reused)", () => {
  it("sends chunks without hashing them again while the source vouches for them, else hashes each", async () => {
    const { uploadContent } = await import("../upload.ts");
    for (const vouch of [true, false]) {
      const bytes = randomBytes(3 * 1024 * 1024);
      const p = path.join(dir, `sp-${vouch}.bin`);
      await writeFile(p, bytes);
      const manifest = await chunkLocalFile(p);
      let hashes = 0;
      let released = 0;
      const r = await uploadContent(
        client,
        {
          manifest,
          label: p,
          hash: (b) => {
            hashes++;
            return sha(b);
          },
          read: async (offset, size) => bytes.subarray(offset, offset + size),
          readKnown: async (offset, size) => (vouch ? bytes.subarray(offset, offset + size) : null),
          release: () => {
            released++;
          },
        },
        { path: `/sp-${vouch}.bin`, baseVersion: null, ...fast },
      );
      expect(r.chunksUploaded).toBe(manifest.chunks.length);
      expect(hashes).toBe(vouch ? 0 : manifest.chunks.length);
      expect(released).toBe(manifest.chunks.length);
    }
  });
});

describe("precomputed manifest (a sync agent's scan)", () => {
  const precomputedFor = async (p: string, chunks: { id: string; size: number }[]) => {
    const { stat } = await import("node:fs/promises");
    const st = await stat(p);
    return { manifest: { size: st.size, chunks }, dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
  };

  it("uploads from it without chunking the file again, byte-identical", async () => {
    const manifest = await chunkLocalFile(src);
    const phases: { phase: string; bytesDone: number }[] = [];
    const r = await uploadFile(client, {
      localPath: src,
      remotePath: "/pre.bin",
      precomputed: await precomputedFor(src, manifest.chunks),
      onProgress: (ev) => {
        if (ev.phase === "hashing") phases.push({ phase: ev.phase, bytesDone: ev.bytesDone });
      },
      ...fast,
    });
    expectFirstUpload(r, manifest.chunks.length);
    // One "hashing" report, already complete: no chunk pass ran.
    expect(phases).toEqual([{ phase: "hashing", bytesDone: SIZE }]);
    const out = path.join(dir, "pre-out.bin");
    await downloadFile(client, { remotePath: "/pre.bin", localPath: out, ...fast });
    expect(sha(await readFile(out))).toBe(sha(content));
  });

  it("refuses (CONFLICT, nothing committed) when the node finds the bytes no longer match its chunk ids", async () => {
    const manifest = await chunkLocalFile(src);
    // Same stat, different claimed content: as if the file changed within one mtime tick.
    // The stat vouches for the bytes, so they go out unhashed (one refusal at the node
    // proves it: hashed first, they would never have been sent); the node refuses them
    // (HASH_MISMATCH), the retry hashes them and finds the file changed.
    const wrong = manifest.chunks.map((c, i) => (i === 1 ? { ...c, id: sha(Buffer.from("not these bytes")) } : c));
    const err = await uploadFile(client, {
      localPath: src,
      remotePath: "/pre-wrong.bin",
      precomputed: await precomputedFor(src, wrong),
      ...fast,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe("CONFLICT");
    expect((err as AppError).message).toContain("changed while it was being uploaded");
    expect((err as AppError).details).toMatchObject({ localChanged: true });
    expect(fc.nodes[0]!.hashMismatches).toBe(1);
    expect(fc.nodes[0]!.chunks.has(wrong[1]!.id)).toBe(false);
    expect(fc.commits).toHaveLength(0);
    expect(fc.files.has("/pre-wrong.bin")).toBe(false);
  });

  it("resends bytes damaged in transit: the node refuses them, the retry hashes them and they match", async () => {
    const manifest = await chunkLocalFile(src);
    const { uploadContent } = await import("../upload.ts");
    const bytes = await readFile(src);
    let hashes = 0;
    let sends = 0;
    const r = await uploadContent(
      client,
      {
        manifest,
        label: src,
        hash: (b) => {
          hashes++;
          return sha(b);
        },
        read: async (offset, size) => bytes.subarray(offset, offset + size),
        // The first vouched chunk arrives damaged, as a flipped bit on the way would.
        readKnown: async (offset, size) => {
          const out = Buffer.from(bytes.subarray(offset, offset + size));
          if (sends++ === 0) out[0] = out[0]! ^ 1;
          return out;
        },
      },
      { path: "/pre-transit.bin", baseVersion: null, concurrency: 1, ...fast },
    );
    expectFirstUpload(r, manifest.chunks.length);
    expect(fc.nodes[0]!.hashMismatches).toBe(1);
    // After the refusal the vouch is not trusted again: every later chunk is hashed.
    expect(hashes).toBe(manifest.chunks.length);
    const out = path.join(dir, "pre-transit-out.bin");
    await downloadFile(client, { remotePath: "/pre-transit.bin", localPath: out, ...fast });
    expect(sha(await readFile(out))).toBe(sha(content));
  });

  it("is ignored when the file's stat changed since it was made (the file is chunked as usual)", async () => {
    const manifest = await chunkLocalFile(src);
    const wrong = manifest.chunks.map((c) => ({ ...c, id: sha(Buffer.from(c.id)) }));
    const pre = { ...(await precomputedFor(src, wrong)), mtimeMs: 1 };
    const r = await uploadFile(client, { localPath: src, remotePath: "/pre-stale.bin", precomputed: pre, ...fast });
    expectFirstUpload(r, manifest.chunks.length);
    const out = path.join(dir, "pre-stale-out.bin");
    await downloadFile(client, { remotePath: "/pre-stale.bin", localPath: out, ...fast });
    expect(sha(await readFile(out))).toBe(sha(content));
  });
});
