// The SDK's small-chunk batching (packages/client node/small-chunks.ts, behind openTransport) against real nodes:
// overlapping small PUTs travel as one POST /chunks/batch, each caller gets its own answer.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTransport } from "@cumulus/client/node/upload-file";
import { AppError } from "@cumulus/protocol/errors";
import { FakeControlPlane } from "../testing/fake-control-plane.ts";
import { makeChunk, startTestNode, type TestNode } from "../testing/util.ts";

function requests(node: TestNode, route: string): number {
  const text = node.metrics.render(node.store.usage());
  let n = 0;
  for (const m of text.matchAll(new RegExp(`route="${route}",status="(\\d+)"\\} (\\d+)`, "g"))) n += Number(m[2]);
  return n;
}

describe("SmallChunkBatcher against storage nodes", () => {
  let cp: FakeControlPlane;
  let nodes: TestNode[];

  beforeAll(async () => {
    cp = await FakeControlPlane.start();
    nodes = [];
    for (const name of ["s1", "s2"]) nodes.push(await startTestNode(cp, name));
  });
  afterAll(async () => {
    for (const n of nodes ?? []) await n.stop();
    await cp?.close();
  });

  it("sends overlapping small PUTs to one node as one batch; each caller gets its receipts or its own error", async () => {
    // The SDK's HTTP chunk transport, as uploadFile and the sync agent open it.
    const io = await openTransport("http", null);
    try {
      const hops = nodes.map((n) => ({ nodeId: n.nodeId(), url: n.url }));
      const first = { node: nodes[0]!.state.name, site: "test", url: nodes[0]!.url };
      const chunks = Array.from({ length: 8 }, () => makeChunk(4096));
      // One token per file, as separate begins would plan them; file 5's token names another chunk.
      const tokens = await Promise.all(
        chunks.map((c, i) =>
          cp.mint({
            aud: hops.map((h) => h.nodeId),
            op: "write",
            chunks: [i === 5 ? chunks[0]!.id : c.id],
            pipeline: hops,
          }),
        ),
      );
      const before = requests(nodes[0]!, "put_chunk_batch");
      const out = await Promise.allSettled(
        chunks.map((c, i) => io.putChunk(fetch, first, tokens[i]!, c.id, c.data, {})),
      );
      expect(out.map((r) => r.status)).toEqual(chunks.map((_, i) => (i === 5 ? "rejected" : "fulfilled")));
      const refused = (out[5] as PromiseRejectedResult).reason as AppError;
      expect(refused).toBeInstanceOf(AppError);
      expect(refused.code).toBe("FORBIDDEN");
      expect(refused.message).toMatch(/does not cover chunk/);
      for (const r of out) if (r.status === "fulfilled") expect(r.value).toHaveLength(2);
      expect(requests(nodes[0]!, "put_chunk_batch") - before).toBe(1);
      expect(await nodes[1]!.store.stat(chunks[1]!.id)).toMatchObject({ size: 4096 });
      expect(await nodes[1]!.store.stat(chunks[5]!.id)).toBeNull();

      // A lone chunk, and a chunk too big for a batch, go by plain PUT.
      const lone = makeChunk(100);
      const big = makeChunk(300 * 1024);
      const puts = requests(nodes[0]!, "put_chunk");
      const t = await cp.mint({
        aud: hops.map((h) => h.nodeId),
        op: "write",
        chunks: [lone.id, big.id],
        pipeline: hops,
      });
      expect(await io.putChunk(fetch, first, t, lone.id, lone.data, {})).toHaveLength(2);
      expect(await io.putChunk(fetch, first, t, big.id, big.data, {})).toHaveLength(2);
      expect(requests(nodes[0]!, "put_chunk") - puts).toBe(2);
    } finally {
      io.close();
    }
  });
  it("a caller that aborts is answered with its reason; the others still get their receipts", async () => {
    const io = await openTransport("http", null);
    try {
      const hops = nodes.map((n) => ({ nodeId: n.nodeId(), url: n.url }));
      const first = { node: nodes[0]!.state.name, site: "test", url: nodes[0]!.url };
      const [a, b] = [makeChunk(2000), makeChunk(3000)];
      const t = await cp.mint({ aud: hops.map((h) => h.nodeId), op: "write", chunks: [a.id, b.id], pipeline: hops });
      const ac = new AbortController();
      const pa = io.putChunk(fetch, first, t, a.id, a.data, { signal: ac.signal });
      const pb = io.putChunk(fetch, first, t, b.id, b.data, {});
      ac.abort(new Error("user gave up"));
      await expect(pa).rejects.toThrow("user gave up");
      expect(await pb).toHaveLength(2);
    } finally {
      io.close();
    }
  });
});
