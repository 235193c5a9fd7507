import http from "node:http";
import { jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  MAX_PUT_BATCH_BYTES,
  MAX_PUT_BATCH_HEADER,
  ZPutChunkBatchResponse,
  encodePutBatchHead,
  type PutChunkBatchHeader,
} from "@cumulus/protocol/chunk-batch";
import { ZErrorBody } from "@cumulus/protocol/errors";
import { ZBatchReceiptClaims, proofReachesRoot, splitBatchReceipt } from "@cumulus/protocol/receipt-tree";
import { FakeControlPlane } from "../testing/fake-control-plane.ts";
import { makeChunk, startTestNode, usageWithoutFree, type TestNode } from "../testing/util.ts";

/** POSTs a raw batch body with a Content-Length of our choosing (lies included). */
function post(node: TestNode, body: Buffer, contentLength = body.length): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${node.url}/chunks/batch`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream", "content-length": String(contentLength) },
    });
    req.on("error", reject);
    req.on("response", (res) => {
      const parts: Buffer[] = [];
      res.on("data", (b: Buffer) => parts.push(b));
      res.on("end", () => {
        const text = Buffer.concat(parts).toString("utf8");
        resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : null });
      });
    });
    req.end(body);
  });
}

function frame(header: PutChunkBatchHeader, data: Buffer[]): Buffer {
  return Buffer.concat([Buffer.from(encodePutBatchHead(header)), ...data]);
}

describe("POST /chunks/batch", () => {
  let cp: FakeControlPlane;
  let nodes: TestNode[];
  const ids = () => nodes.map((n) => n.nodeId());
  const pipelineToken = (chunks: string[], hops: TestNode[] = nodes) =>
    cp.mint({
      aud: hops.map((n) => n.nodeId()),
      op: "write",
      chunks,
      pipeline: hops.map((n) => ({ nodeId: n.nodeId(), url: n.url })),
    });

  beforeAll(async () => {
    cp = await FakeControlPlane.start();
    nodes = [];
    for (const name of ["b1", "b2", "b3"]) nodes.push(await startTestNode(cp, name));
  });
  afterAll(async () => {
    for (const n of nodes ?? []) await n.stop();
    await cp?.close();
  });

  it("stores every chunk on every hop of its pipeline and answers all receipts in pipeline order (one signature per node)", async () => {
    const chunks = Array.from({ length: 5 }, (_, i) => makeChunk(1000 + i * 500));
    const token = await pipelineToken(chunks.map((c) => c.id));
    const res = await post(
      nodes[0]!,
      frame(
        { tokens: [token], items: chunks.map((c) => ({ id: c.id, size: c.data.length, token: 0 })) },
        chunks.map((c) => c.data),
      ),
    );
    expect(res.status).toBe(200);
    const body = ZPutChunkBatchResponse.parse(res.json);
    expect(body.results.map((r) => r.ok)).toEqual(chunks.map(() => true));
    const signatures = new Set<string>();
    for (const [i, r] of body.results.entries()) {
      if (!r.ok) throw new Error(r.message);
      expect(r.chunk).toBe(chunks[i]!.id);
      const issuers = [];
      for (const [k, receipt] of r.receipts.entries()) {
        // A batch receipt: the node's one signature over the batch, and this chunk's path to its root.
        const split = splitBatchReceipt(receipt)!;
        expect(split.index).toBe(i);
        const { payload } = await jwtVerify(split.jws, cp.node(nodes[k]!.state.name).publicKey);
        const claims = ZBatchReceiptClaims.parse(payload);
        expect(claims.n).toBe(chunks.length);
        const { id, data } = chunks[i]!;
        expect(proofReachesRoot(id, data.length, split.index, claims.n, split.proof, claims.root)).toBe(true);
        // The path proves this chunk and size only.
        expect(proofReachesRoot(id, data.length + 1, split.index, claims.n, split.proof, claims.root)).toBe(false);
        expect(
          proofReachesRoot(chunks[(i + 1) % 5]!.id, data.length, split.index, claims.n, split.proof, claims.root),
        ).toBe(false);
        issuers.push(claims.iss);
        signatures.add(split.jws);
      }
      expect(issuers).toEqual(ids());
    }
    expect(signatures.size).toBe(nodes.length);
    for (const n of nodes)
      for (const c of chunks) expect(await n.store.stat(c.id)).toMatchObject({ size: c.data.length });
  });

  it("a chunk with a bad hash in the middle, or not covered by its token, fails alone; nothing of it is stored", async () => {
    const [a, b, c, d] = [makeChunk(700), makeChunk(800), makeChunk(900), makeChunk(600)];
    const liar = { id: b.id, data: Buffer.from(b.data) };
    liar.data[10] = liar.data[10]! ^ 0xff; // right size, wrong bytes
    const token = await pipelineToken([a.id, b.id, c.id]); // d is not covered
    const res = await post(
      nodes[0]!,
      frame(
        {
          tokens: [token],
          items: [a, liar, c, d].map((x) => ({ id: x.id, size: x.data.length, token: 0 })),
        },
        [a.data, liar.data, c.data, d.data],
      ),
    );
    expect(res.status).toBe(200);
    const body = ZPutChunkBatchResponse.parse(res.json);
    expect(body.results.map((r) => (r.ok ? "ok" : r.code))).toEqual(["ok", "HASH_MISMATCH", "ok", "FORBIDDEN"]);
    for (const n of nodes) {
      expect(await n.store.stat(a.id)).not.toBeNull();
      expect(await n.store.stat(c.id)).not.toBeNull();
      expect(await n.store.stat(b.id)).toBeNull();
      expect(await n.store.stat(d.id)).toBeNull();
    }
  });

  it("a body cut short fails the whole batch and stores nothing", async () => {
    const [a, b] = [makeChunk(1500), makeChunk(1500)];
    const token = await pipelineToken([a.id, b.id], [nodes[0]!]);
    const full = frame({ tokens: [token], items: [a, b].map((x) => ({ id: x.id, size: x.data.length, token: 0 })) }, [
      a.data,
      b.data,
    ]);
    const before = nodes[0]!.store.usage();
    // The socket closes after the first chunk and half of the second.
    const cut = full.subarray(0, full.length - 700);
    await new Promise<void>((resolve) => {
      const req = http.request(`${nodes[0]!.url}/chunks/batch`, {
        method: "POST",
        headers: { "content-length": String(full.length) },
      });
      req.on("error", () => resolve());
      req.on("response", (res) => {
        res.resume();
        res.on("end", () => resolve());
      });
      req.write(cut, () => setImmediate(() => req.destroy()));
    });
    // Once the node has noticed (its next request is served after the cut one).
    await post(nodes[0]!, Buffer.alloc(0), 0);
    expect(await nodes[0]!.store.stat(a.id)).toBeNull();
    expect(await nodes[0]!.store.stat(b.id)).toBeNull();
    expect(usageWithoutFree(nodes[0]!.store.usage())).toEqual(usageWithoutFree(before));
  });

  it("refuses an oversize batch, a malformed header and a lying Content-Length before storing anything", async () => {
    const big = await post(nodes[0]!, Buffer.alloc(8), 4 + MAX_PUT_BATCH_HEADER + MAX_PUT_BATCH_BYTES + 1);
    expect(big.status).toBe(413);
    expect(ZErrorBody.parse(big.json).error.code).toBe("PAYLOAD_TOO_LARGE");

    const a = makeChunk(100);
    const token = await pipelineToken([a.id], [nodes[0]!]);
    const tooMany = Array.from({ length: 65 }, () => makeChunk(10));
    const r1 = await post(
      nodes[0]!,
      frame(
        { tokens: [token], items: tooMany.map((x) => ({ id: x.id, size: 10, token: 0 })) },
        tooMany.map((x) => x.data),
      ),
    );
    expect(r1.status).toBe(400);
    expect(ZErrorBody.parse(r1.json).error.message).toMatch(/invalid chunk batch header at items/);

    const twice = frame({ tokens: [token], items: [0, 1].map(() => ({ id: a.id, size: 100, token: 0 })) }, [
      a.data,
      a.data,
    ]);
    const r2 = await post(nodes[0]!, twice);
    expect(r2.status).toBe(400);
    expect(ZErrorBody.parse(r2.json).error.message).toMatch(/listed twice/);

    const body = frame({ tokens: [token], items: [{ id: a.id, size: 100, token: 0 }] }, [a.data, Buffer.alloc(5)]);
    const r3 = await post(nodes[0]!, body);
    expect(r3.status).toBe(400);
    expect(ZErrorBody.parse(r3.json).error.message).toMatch(/Content-Length is .* but the header announces/);

    const r4 = await post(nodes[0]!, Buffer.from([0, 0, 0, 3, 0x7b, 0x7b, 0x7b]));
    expect(r4.status).toBe(400);
    expect(await nodes[0]!.store.stat(a.id)).toBeNull();
  });
});
