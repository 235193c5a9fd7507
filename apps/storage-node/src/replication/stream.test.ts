import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeFrameHead, type ChunkStreamFrame } from "@cumulus/protocol/chunk-stream";
import { AppError, ZErrorBody } from "@cumulus/protocol/errors";
import { ZReplicateBatchResponse } from "@cumulus/protocol/node-api";
import { FakeControlPlane } from "../testing/fake-control-plane.ts";
import { corruptOnDisk, makeChunk, putChunk, sha256, startTestNode, type TestNode } from "../testing/util.ts";
import { fetchChunkStream, type BufferPool, type StreamItem } from "./stream-client.ts";

// The framed chunk stream of repair copies: a real source node, and a hand-written peer
// for answers no well-behaved node sends.

const pool: BufferPool = { take: () => Buffer.allocUnsafe(4 * 1024 * 1024), give: () => {} };

interface Got {
  chunks: [number, string][];
  errors: [number, string][];
  failure: AppError | null;
}

async function stream(url: string, items: StreamItem[], token: string, slow = false): Promise<Got> {
  const got: Got = { chunks: [], errors: [], failure: null };
  try {
    await fetchChunkStream(
      url,
      "source",
      items,
      token,
      { signal: AbortSignal.timeout(20_000), idleTimeoutMs: 10_000, buffers: pool },
      {
        onChunk: async (k, data) => {
          // A slow store: the stream has to wait for a free buffer now and then.
          if (slow) await new Promise((r) => setTimeout(r, 2));
          got.chunks.push([k, sha256(data)]);
        },
        onError: (k, err) => got.errors.push([k, err.code]),
      },
    );
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    got.failure = err;
  }
  return got;
}

describe("chunk stream (POST /replicate/read)", () => {
  let cp: FakeControlPlane;
  let a: TestNode;
  let b: TestNode;
  let c: TestNode;

  beforeAll(async () => {
    cp = await FakeControlPlane.start();
    [a, b, c] = await Promise.all([
      startTestNode(cp, "str-a", { scrubBytesPerSec: 0 }),
      startTestNode(cp, "str-b", { scrubBytesPerSec: 0 }),
      startTestNode(cp, "str-c", { scrubBytesPerSec: 0 }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
    await cp?.close();
  });

  const readToken = (n: TestNode, chunks: string[], sub = "system") =>
    cp.mint({ aud: [n.nodeId()], op: "read", chunks, sub });

  it("sends the requested chunks back to back in request order, an error frame for one it lacks, then ends", async () => {
    const big = makeChunk(3 * 1024 * 1024 + 17);
    const small = makeChunk(1_000);
    const mid = makeChunk(200_000);
    const lacking = makeChunk(5_000);
    for (const x of [big, small, mid]) await putChunk(cp, a, x.id, x.data);
    const items = [big, small, lacking, mid].map((x) => ({ chunk: x.id, size: x.data.length }));
    const got = await stream(
      a.url,
      items,
      await readToken(
        a,
        items.map((i) => i.chunk),
      ),
    );
    expect(got.failure).toBeNull();
    expect(got.chunks).toEqual([
      [0, big.id],
      [1, small.id],
      [3, mid.id],
    ]);
    expect(got.errors).toEqual([[2, "NOT_FOUND"]]);
  });

  it("delivers a full batch in order to a store slower than the wire", async () => {
    // Small ones arrive many to a read; large ones keep arriving while two are stored.
    const xs = Array.from({ length: 32 }, (_, i) => makeChunk(i % 4 === 3 ? 600_000 + i : 100 + i));
    for (const x of xs) await putChunk(cp, a, x.id, x.data);
    const items = xs.map((x) => ({ chunk: x.id, size: x.data.length }));
    const got = await stream(
      a.url,
      items,
      await readToken(
        a,
        items.map((i) => i.chunk),
      ),
      true,
    );
    expect(got.failure).toBeNull();
    expect(got.chunks).toEqual(xs.map((x, i) => [i, x.id]));
  });

  it("refuses a user's token, a token missing a chunk, and malformed or duplicate requests, sending no chunk", async () => {
    const x = makeChunk(2_000);
    const y = makeChunk(2_000);
    await putChunk(cp, a, x.id, x.data);
    await putChunk(cp, a, y.id, y.data);
    const post = (token: string | null, body: string) =>
      fetch(`${a.url}/replicate/read`, {
        method: "POST",
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), "content-type": "application/json" },
        body,
      });
    const body = (ids: string[]) => JSON.stringify({ chunks: ids.map((id) => ({ chunk: id, size: 2_000 })) });
    const user = await post(await readToken(a, [x.id, y.id], "someone"), body([x.id, y.id]));
    expect(user.status).toBe(403);
    expect(ZErrorBody.parse(await user.json()).error.message).toMatch(/repair copies between nodes only/);
    const uncovered = await post(await readToken(a, [x.id]), body([x.id, y.id]));
    expect(uncovered.status).toBe(403);
    expect(ZErrorBody.parse(await uncovered.json()).error.message).toMatch(new RegExp(`does not cover chunk ${y.id}`));
    const twice = await post(await readToken(a, [x.id]), body([x.id, x.id]));
    expect(twice.status).toBe(400);
    expect(ZErrorBody.parse(await twice.json()).error.message).toMatch(/listed twice/);
    expect((await post(await readToken(a, [x.id]), "{")).status).toBe(400);
    expect((await post(null, body([x.id]))).status).toBe(401);
    // Through the reader: the refusal arrives as the source's error, nothing as a chunk.
    const got = await stream(a.url, [{ chunk: x.id, size: 2_000 }], await readToken(a, [x.id], "someone"));
    expect(got.chunks).toEqual([]);
    expect(got.failure?.code).toBe("FORBIDDEN");
  });

  it("copies a batch past a source whose copy is corrupt: its check fails on arrival, the source reports it", async () => {
    const x = makeChunk(300_000);
    const fine = makeChunk(40_000);
    await putChunk(cp, a, x.id, x.data);
    await putChunk(cp, a, fine.id, fine.data);
    await putChunk(cp, b, x.id, x.data);
    await corruptOnDisk(a, x.id);
    const hops = [a, b].map((n) => ({ nodeId: n.nodeId(), url: n.url }));
    const chunks = [x.id, fine.id];
    const token = await cp.mint({ aud: [c.nodeId()], op: "replicate", chunks, extra: { sources: hops } });
    const read = await cp.mint({ aud: [a.nodeId(), b.nodeId()], op: "read", chunks, sub: "system" });
    const res = await fetch(`${c.url}/replicate/batch`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        items: [
          { chunk: x.id, size: x.data.length, sources: [0, 1] },
          { chunk: fine.id, size: fine.data.length, sources: [0] },
        ],
        readToken: read,
      }),
    });
    expect(res.status).toBe(200);
    const { results } = ZReplicateBatchResponse.parse(await res.json());
    expect(results[0]).toMatchObject({ ok: true, sourceNodeId: b.nodeId(), bytesCopied: x.data.length });
    expect(results[1]).toMatchObject({ ok: true, sourceNodeId: a.nodeId(), bytesCopied: fine.data.length });
    // The streamed bytes failed the target's check; the verified read that followed made
    // the source quarantine its copy and report it.
    expect(c.logs().some((l) => l.msg === "streamed chunk refused" && l.code === "HASH_MISMATCH")).toBe(true);
    expect(await a.store.stat(x.id)).toBeNull();
    const deadline = Date.now() + 20_000;
    while (!cp.chunkReports.some((r) => r.name === "str-a" && JSON.stringify(r.body).includes(x.id))) {
      if (Date.now() > deadline) throw new Error("source never reported its corrupt copy");
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await c.store.stat(x.id)).toMatchObject({ size: x.data.length });
  });
});

describe("chunk stream reader against a peer that breaks the protocol", () => {
  const x = makeChunk(50_000);
  const y = makeChunk(20_000);
  const items = [x, y].map((c) => ({ chunk: c.id, size: c.data.length }));
  const frame = (f: ChunkStreamFrame, data?: Uint8Array) =>
    Buffer.concat([encodeFrameHead(f, data?.length ?? 0), ...(data ? [data] : [])]);
  const ok = (body: Buffer) => Buffer.concat([Buffer.from("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n"), body]);
  const frameOf = (c: { id: string; data: Buffer }) => frame({ t: "chunk", chunk: c.id, size: c.data.length }, c.data);
  const end = frame({ t: "end", chunks: 2 });

  let server: net.Server;
  let answer: Buffer = Buffer.alloc(0);
  let url = "";
  beforeAll(async () => {
    server = net.createServer((sock) => {
      sock.once("data", () => sock.end(answer));
      sock.on("error", () => {});
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const cases: { name: string; body: () => Buffer; chunks: number; code: string; message: RegExp }[] = [
    {
      name: "cut in the middle of a chunk",
      body: () => ok(Buffer.concat([frameOf(x), frameOf(y).subarray(0, 5_000)])),
      chunks: 1,
      code: "UNAVAILABLE",
      message: /after 1 of 2 chunk/,
    },
    {
      name: "no end frame",
      body: () => ok(Buffer.concat([frameOf(x), frameOf(y)])),
      chunks: 2,
      code: "UNAVAILABLE",
      message: /without its end frame/,
    },
    {
      name: "a chunk out of order",
      body: () => ok(Buffer.concat([frameOf(y), frameOf(x), end])),
      chunks: 0,
      code: "BAD_REQUEST",
      message: /where .* was due/,
    },
    {
      name: "a chunk nobody asked for",
      body: () => ok(Buffer.concat([frameOf(x), frameOf(y), frameOf(x), end])),
      chunks: 2,
      code: "BAD_REQUEST",
      message: /after the last requested chunk/,
    },
    {
      name: "a size other than requested",
      body: () => ok(Buffer.concat([frame({ t: "chunk", chunk: x.id, size: 10 }, x.data.subarray(0, 10)), end])),
      chunks: 0,
      code: "BAD_REQUEST",
      message: /sent with 10 bytes/,
    },
    {
      name: "a header longer than any frame's",
      body: () => ok(Buffer.from([0, 1, 0, 0, 0, 0, 0, 0])),
      chunks: 0,
      code: "BAD_REQUEST",
      message: /frame header of 65536 bytes/,
    },
    {
      name: "a header that is not JSON",
      body: () => ok(Buffer.from([0, 0, 0, 3, 0, 0, 0, 0, 0x7b, 0x7b, 0x7b])),
      chunks: 0,
      code: "BAD_REQUEST",
      message: /not valid JSON/,
    },
    {
      name: "an end frame too early",
      body: () => ok(Buffer.concat([frameOf(x), end])),
      chunks: 1,
      code: "BAD_REQUEST",
      message: /end frame after 1 of 2/,
    },
    {
      name: "an error answer",
      body: () =>
        Buffer.from(
          'HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\n\r\n{"error":{"code":"FORBIDDEN","message":"no"}}',
        ),
      chunks: 0,
      code: "FORBIDDEN",
      message: /no/,
    },
  ];
  it("is done at the end frame, even when the source keeps the connection open", async () => {
    // A peer that answers in full and then leaves the connection open: the reader must not
    // wait for it to close (its idle timeout here is far longer than the test may take).
    let closed!: () => void;
    const sawClose = new Promise<void>((r) => (closed = r));
    const lingering = net.createServer((sock) => {
      sock.once("data", () => sock.write(ok(Buffer.concat([frameOf(x), frameOf(y), end]))));
      sock.on("error", () => {});
      sock.on("close", () => closed());
    });
    await new Promise<void>((r) => lingering.listen(0, "127.0.0.1", r));
    try {
      const got: string[] = [];
      await fetchChunkStream(
        `http://127.0.0.1:${(lingering.address() as net.AddressInfo).port}`,
        "source",
        items,
        "x".repeat(40),
        { signal: new AbortController().signal, idleTimeoutMs: 3_600_000, buffers: pool },
        { onChunk: async (_k, data) => void got.push(sha256(data)), onError: () => {} },
      );
      expect(got).toEqual([x.id, y.id]);
      await sawClose;
    } finally {
      lingering.close();
    }
  });

  for (const t of cases) {
    it(`rejects ${t.name}, with what arrived before it delivered and nothing after`, async () => {
      answer = t.body();
      const got = await stream(url, items, "x".repeat(40));
      expect(got.failure?.code).toBe(t.code);
      expect(got.failure?.message).toMatch(t.message);
      expect(got.chunks).toEqual(
        [
          [0, x.id],
          [1, y.id],
        ].slice(0, t.chunks),
      );
    });
  }
});
