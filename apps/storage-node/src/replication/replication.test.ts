import { jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ZErrorBody } from "@cumulus/protocol/errors";
import { ZReceiptClaims, ZReplicateBatchResponse, ZReplicateResponse } from "@cumulus/protocol/node-api";
import { FakeControlPlane } from "../testing/fake-control-plane.ts";
import { DiskChunkStore } from "../store/disk-chunk-store.ts";
import {
  chunksOf,
  corruptOnDisk,
  makeChunk,
  putChunk,
  startTestNode,
  tempDir,
  type TestNode,
} from "../testing/util.ts";

// Node-to-node copies (POST /replicate), conditional deletes, the scrubber and bad-chunk
// reports, on real nodes with a fake control plane.

async function until<T>(probe: () => T | Promise<T>, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("replication between nodes", () => {
  let cp: FakeControlPlane;
  let a: TestNode;
  let b: TestNode;
  let c: TestNode;

  beforeAll(async () => {
    cp = await FakeControlPlane.start();
    [a, b, c] = await Promise.all([
      startTestNode(cp, "rep-a", { scrubBytesPerSec: 0 }),
      startTestNode(cp, "rep-b", { scrubBytesPerSec: 0 }),
      startTestNode(cp, "rep-c", { scrubBytesPerSec: 0 }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
    await cp?.close();
  });

  const hop = (n: TestNode) => ({ nodeId: n.nodeId(), url: n.url });

  async function replicate(target: TestNode, id: string, size: number, sources: TestNode[]) {
    const token = await cp.mint({
      aud: [target.nodeId()],
      op: "replicate",
      chunks: [id],
      extra: { sources: sources.map(hop) },
    });
    const readToken = await cp.mint({ aud: sources.map((s) => s.nodeId()), op: "read", chunks: [id] });
    return fetch(`${target.url}/replicate`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ chunk: id, size, readToken }),
    });
  }

  it("pulls a chunk from a source, verifies it and answers with a receipt; a second call copies nothing", async () => {
    const { id, data } = makeChunk(300_000);
    await putChunk(cp, a, id, data);
    const res = await replicate(b, id, data.length, [a]);
    expect(res.status).toBe(200);
    const body = ZReplicateResponse.parse(await res.json());
    expect(body).toMatchObject({ chunk: id, size: data.length, sourceNodeId: a.nodeId(), bytesCopied: data.length });
    const { payload } = await jwtVerify(body.receipt, cp.node("rep-b").publicKey);
    expect(ZReceiptClaims.parse(payload)).toMatchObject({ iss: b.nodeId(), chunk: id, size: data.length });
    expect(await b.store.stat(id)).toMatchObject({ id, size: data.length });

    const again = ZReplicateResponse.parse(await (await replicate(b, id, data.length, [a])).json());
    expect(again).toMatchObject({ sourceNodeId: null, bytesCopied: 0 });
  });

  it("skips a source whose copy is corrupt and takes the next one", async () => {
    const { id, data } = makeChunk(200_000);
    await putChunk(cp, a, id, data);
    await putChunk(cp, b, id, data);
    await corruptOnDisk(a, id);
    const res = await replicate(c, id, data.length, [a, b]);
    expect(res.status).toBe(200);
    expect(ZReplicateResponse.parse(await res.json()).sourceNodeId).toBe(b.nodeId());
    // The bad source noticed while serving: quarantined and reported.
    const report = await until(
      () => cp.chunkReports.find((r) => r.name === "rep-a"),
      (r) => r !== undefined,
    );
    expect(report?.body).toMatchObject({ corrupt: [id], source: "read" });
  });

  it("refuses a replicate token for another chunk or node, and answers 503 when no source has it", async () => {
    const { id, data } = makeChunk(1000);
    const other = makeChunk(1000);
    const token = await cp.mint({
      aud: [c.nodeId()],
      op: "replicate",
      chunks: [other.id],
      extra: { sources: [hop(a)] },
    });
    const readToken = await cp.mint({ aud: [a.nodeId()], op: "read", chunks: [id] });
    const wrong = await fetch(`${c.url}/replicate`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify({ chunk: id, size: data.length, readToken }),
    });
    expect(wrong.status).toBe(403);
    const none = await replicate(c, id, data.length, [a]);
    expect(none.status).toBe(503);
    expect(ZErrorBody.parse(await none.json()).error.code).toBe("UNAVAILABLE");
    expect(await c.store.stat(id)).toBeNull();
  });

  async function replicateBatch(
    target: TestNode,
    items: { chunk: string; size: number; sources: number[] }[],
    sources: TestNode[],
    opts: { chunks?: string[] } = {},
  ) {
    const chunks = opts.chunks ?? items.map((x) => x.chunk);
    const token = await cp.mint({
      aud: [target.nodeId()],
      op: "replicate",
      chunks,
      extra: { sources: sources.map(hop) },
    });
    // The reconciler's read token: the target streams each source's chunks in one request.
    const readToken = await cp.mint({ aud: sources.map((s) => s.nodeId()), op: "read", chunks, sub: "system" });
    return fetch(`${target.url}/replicate/batch`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ items, readToken }),
    });
  }

  it("copies a batch from several sources, with a receipt per durable chunk and an error per failed one", async () => {
    const onA = [makeChunk(150_000), makeChunk(70_000), makeChunk(1_000)];
    const onB = [makeChunk(90_000), makeChunk(20_000)];
    const held = makeChunk(30_000);
    const nowhere = makeChunk(4_000);
    for (const x of onA) await putChunk(cp, a, x.id, x.data);
    for (const x of onB) await putChunk(cp, b, x.id, x.data);
    await putChunk(cp, c, held.id, held.data);
    // A wrong source first for one chunk: the target falls back to the next one listed.
    const items = [
      ...onA.map((x) => ({ chunk: x.id, size: x.data.length, sources: [0] })),
      ...onB.map((x, i) => ({ chunk: x.id, size: x.data.length, sources: i === 0 ? [0, 1] : [1] })),
      { chunk: held.id, size: held.data.length, sources: [0] },
      { chunk: nowhere.id, size: nowhere.data.length, sources: [0, 1] },
    ];
    const res = await replicateBatch(c, items, [a, b]);
    expect(res.status).toBe(200);
    const { results } = ZReplicateBatchResponse.parse(await res.json());
    expect(results.map((r) => r.chunk)).toEqual(items.map((x) => x.chunk));
    for (const [i, x] of [...onA, ...onB].entries()) {
      const r = results[i]!;
      expect(r).toMatchObject({ ok: true, bytesCopied: x.data.length });
      if (!r.ok) continue;
      expect(r.sourceNodeId).toBe(i < onA.length ? a.nodeId() : b.nodeId());
      const { payload } = await jwtVerify(r.receipt, cp.node("rep-c").publicKey);
      expect(ZReceiptClaims.parse(payload)).toMatchObject({ iss: c.nodeId(), chunk: x.id, size: x.data.length });
      expect(await c.store.stat(x.id)).toMatchObject({ size: x.data.length });
    }
    expect(results[onA.length + onB.length]).toMatchObject({ ok: true, sourceNodeId: null, bytesCopied: 0 });
    expect(results[onA.length + onB.length + 1]).toMatchObject({ ok: false, code: "UNAVAILABLE" });
    expect(await c.store.stat(nowhere.id)).toBeNull();
  });

  it("refuses a whole batch naming a chunk the token does not cover, or an unsigned source, and stores nothing", async () => {
    const x = makeChunk(10_000);
    const y = makeChunk(10_000);
    await putChunk(cp, a, x.id, x.data);
    await putChunk(cp, a, y.id, y.data);
    const items = [
      { chunk: x.id, size: x.data.length, sources: [0] },
      { chunk: y.id, size: y.data.length, sources: [0] },
    ];
    const uncovered = await replicateBatch(b, items, [a], { chunks: [x.id] });
    expect(uncovered.status).toBe(403);
    const unsigned = await replicateBatch(b, [{ ...items[0]!, sources: [3] }, items[1]!], [a]);
    expect(unsigned.status).toBe(400);
    expect(ZErrorBody.parse(await unsigned.json()).error.message).toMatch(/source #3/);
    const twice = await replicateBatch(b, [items[0]!, items[0]!], [a]);
    expect(twice.status).toBe(400);
    const malformed = await fetch(`${b.url}/replicate/batch`, { method: "POST", body: "{" });
    expect(malformed.status).toBe(400);
    expect(await b.store.stat(x.id)).toBeNull();
    expect(await b.store.stat(y.id)).toBeNull();
  });

  it("keeps a chunk written after the delete was decided (ifUnmodifiedSince)", async () => {
    const { id, data } = makeChunk(5000);
    const decided = Date.now() - 60_000;
    await putChunk(cp, a, id, data);
    const del = (since: number) =>
      cp
        .mint({ aud: [a.nodeId()], op: "delete", chunks: [id], extra: { ifUnmodifiedSince: since } })
        .then((t) => fetch(`${a.url}/chunks/${id}`, { method: "DELETE", headers: { authorization: `Bearer ${t}` } }));
    const kept = await del(decided);
    expect(kept.status).toBe(409);
    expect(await a.store.stat(id)).not.toBeNull();
    expect((await del(Date.now() + 1000)).status).toBe(204);
    expect(await a.store.stat(id)).toBeNull();
  });

  it("reports a chunk read with a valid token that is not here (missing)", async () => {
    const { id } = makeChunk(1000);
    const t = await cp.mint({ aud: [b.nodeId()], op: "read", chunks: [id] });
    expect((await fetch(`${b.url}/chunks/${id}`, { headers: { authorization: `Bearer ${t}` } })).status).toBe(404);
    const r = await until(
      () => cp.chunkReports.find((x) => x.name === "rep-b" && JSON.stringify(x.body).includes(id)),
      (x) => x !== undefined,
    );
    // Reports are batched: a chunk found missing by an earlier test may share this one.
    expect(r?.body).toMatchObject({ missing: expect.arrayContaining([id]) as unknown, source: "read" });
  });
});

describe("staged puts (batched copies)", () => {
  it("keeps staged chunks invisible until committed, survives a restart before the commit, and refuses bad bytes", async () => {
    const { dir, cleanup } = await tempDir();
    try {
      let store = await DiskChunkStore.open({ dataDir: dir, nodeName: "stage-t" });
      const x = makeChunk(300_000);
      const y = makeChunk(40_000);
      const sx = await store.stage!(x.id, chunksOf(x.data), x.data.length);
      const sy = await store.stage!(y.id, chunksOf(y.data), y.data.length);
      expect(await store.stat(x.id)).toBeNull();
      expect(await store.list(null, 10)).toEqual([]);
      // Wrong bytes never reach the staging area's commit.
      await expect(store.stage!(y.id, chunksOf(x.data), x.data.length)).rejects.toMatchObject({
        code: "HASH_MISMATCH",
      });
      const results = await store.commitStaged!([sx, sy]);
      expect(results).toEqual([
        { id: x.id, size: x.data.length, created: true },
        { id: y.id, size: y.data.length, created: true },
      ]);
      expect(store.usage()).toMatchObject({ usedBytes: x.data.length + y.data.length, chunkCount: 2 });

      // Staged but never committed (a crash: the old instance is never closed): gone after a
      // restart, nothing half-visible.
      const z = makeChunk(10_000);
      await store.stage!(z.id, chunksOf(z.data), z.data.length);
      const crashed = store;
      store = await DiskChunkStore.open({ dataDir: dir, nodeName: "stage-t" });
      expect(await store.stat(z.id)).toBeNull();
      expect((await store.list(null, 10)).map((c) => c.id).sort()).toEqual([x.id, y.id].sort());
      await store.close();
      await crashed.close(); // releases the dead instance's open temp file
    } finally {
      await cleanup();
    }
  });
});

describe("scrubber", () => {
  let cp: FakeControlPlane;
  let n: TestNode;

  beforeAll(async () => {
    cp = await FakeControlPlane.start();
    n = await startTestNode(cp, "scrub-a", { scrubBytesPerSec: 50 * 1024 * 1024, scrubIntervalMs: 200 });
  });
  afterAll(async () => {
    await n?.stop();
    await cp?.close();
  });

  it("re-hashes every chunk in the background, quarantines a corrupt one and reports it", async () => {
    const good = makeChunk(100_000);
    const bad = makeChunk(100_000);
    await putChunk(cp, n, good.id, good.data);
    await putChunk(cp, n, bad.id, bad.data);
    await corruptOnDisk(n, bad.id);
    const report = await until(
      () => cp.chunkReports.find((r) => r.name === "scrub-a"),
      (r) => r !== undefined,
    );
    expect(report?.body).toMatchObject({ corrupt: [bad.id], source: "scrub" });
    expect(await n.store.stat(bad.id)).toBeNull();
    expect(await n.store.stat(good.id)).not.toBeNull();
    await until(
      () => n.scrubber.passes,
      (p) => p >= 2,
    );
    expect(n.scrubber.chunksChecked).toBeGreaterThanOrEqual(3);
  });

  it("stays within its byte budget", async () => {
    const slow = await startTestNode(cp, "scrub-b", { scrubBytesPerSec: 1024 * 1024, scrubIntervalMs: 100 });
    try {
      for (let i = 0; i < 4; i++) {
        const { id, data } = makeChunk(512 * 1024);
        await putChunk(cp, slow, id, data);
      }
      const t0 = Date.now();
      const b0 = slow.scrubber.bytesChecked;
      await new Promise((r) => setTimeout(r, 1500));
      const rate = (slow.scrubber.bytesChecked - b0) / ((Date.now() - t0) / 1000);
      // Never faster than the budget (allowing one chunk of burst).
      expect(rate).toBeLessThan(1024 * 1024 * 1.5);
    } finally {
      await slow.stop();
    }
  });
});
