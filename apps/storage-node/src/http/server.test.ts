import { randomUUID } from "node:crypto";
import { readdir, open as openFile, utimes } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { generateKeyPair, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ZErrorBody } from "@cumulus/protocol/errors";
import { MAX_CHUNK_BYTES } from "@cumulus/protocol/ids";
import {
  HEADER_CHUNK_SIZE,
  ZInventoryPage,
  ZNodeHealth,
  ZPutChunkResponse,
  ZReceiptClaims,
} from "@cumulus/protocol/node-api";
import { FakeControlPlane } from "../testing/fake-control-plane.ts";
import { makeChunk, startTestNode, usageWithoutFree, type TestNode } from "../testing/util.ts";

async function put(node: TestNode, id: string, data: Uint8Array, token?: string): Promise<Response> {
  return fetch(`${node.url}/chunks/${id}`, {
    method: "PUT",
    body: data,
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
}

async function errorOf(res: Response): Promise<{ status: number; code: string; message: string; details?: unknown }> {
  const body = ZErrorBody.parse(await res.json());
  return { status: res.status, ...body.error };
}

async function verifyReceipt(cp: FakeControlPlane, receipt: string, nodeName: string) {
  const node = cp.node(nodeName);
  const { payload } = await jwtVerify(receipt, node.publicKey);
  const claims = ZReceiptClaims.parse(payload);
  expect(claims.iss).toBe(node.nodeId);
  expect(claims.epoch).toBe(node.epoch);
  return claims;
}

describe("data API on one node", () => {
  let cp: FakeControlPlane;
  let node: TestNode;
  let nodeId: string;
  const tok = (op: "read" | "write" | "delete" | "inventory", chunks: string[], extra: object = {}) =>
    cp.mint({ aud: [nodeId], op, chunks, ...extra });

  beforeAll(async () => {
    cp = await FakeControlPlane.start();
    node = await startTestNode(cp, "node-a");
    nodeId = node.nodeId();
  });
  afterAll(async () => {
    await node?.stop();
    await cp?.close();
  });

  it("stores a chunk and returns a receipt signed by the node", async () => {
    const { id, data } = makeChunk(100_000);
    const res = await put(node, id, data, await tok("write", [id]));
    expect(res.status).toBe(201);
    const body = ZPutChunkResponse.parse(await res.json());
    expect(body).toMatchObject({ chunk: id, size: data.length });
    expect(body.receipts).toHaveLength(1);
    const claims = await verifyReceipt(cp, body.receipts[0]!, "node-a");
    expect(claims).toMatchObject({ chunk: id, size: data.length });

    // Idempotent: same chunk again still gets a receipt.
    const again = await put(node, id, data, await tok("write", [id]));
    expect(again.status).toBe(201);
    expect(ZPutChunkResponse.parse(await again.json()).receipts).toHaveLength(1);
    expect(node.store.usage()).toMatchObject({ chunkCount: 1, usedBytes: data.length });
  });

  it("serves GET, HEAD, ranges and 416", async () => {
    const { id, data } = makeChunk(50_000);
    await put(node, id, data, await tok("write", [id]));
    const read = await tok("read", [id]);
    const auth = { authorization: `Bearer ${read}` };

    const get = await fetch(`${node.url}/chunks/${id}`, { headers: auth });
    expect(get.status).toBe(200);
    expect(get.headers.get("content-length")).toBe(String(data.length));
    expect(get.headers.get(HEADER_CHUNK_SIZE)).toBe(String(data.length));
    expect(Buffer.from(await get.arrayBuffer()).equals(data)).toBe(true);

    const viaQuery = await fetch(`${node.url}/chunks/${id}?token=${encodeURIComponent(read)}`);
    expect(Buffer.from(await viaQuery.arrayBuffer()).equals(data)).toBe(true);

    const head = await fetch(`${node.url}/chunks/${id}`, { method: "HEAD", headers: auth });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(data.length));
    expect((await head.arrayBuffer()).byteLength).toBe(0);

    const range = await fetch(`${node.url}/chunks/${id}`, { headers: { ...auth, range: "bytes=100-199" } });
    expect(range.status).toBe(206);
    expect(range.headers.get("content-range")).toBe(`bytes 100-199/${data.length}`);
    expect(Buffer.from(await range.arrayBuffer()).equals(data.subarray(100, 200))).toBe(true);

    const suffix = await fetch(`${node.url}/chunks/${id}`, { headers: { ...auth, range: "bytes=-10" } });
    expect(suffix.status).toBe(206);
    expect(Buffer.from(await suffix.arrayBuffer()).equals(data.subarray(data.length - 10))).toBe(true);

    const open = await fetch(`${node.url}/chunks/${id}`, { headers: { ...auth, range: `bytes=${data.length - 5}-` } });
    expect(Buffer.from(await open.arrayBuffer()).equals(data.subarray(data.length - 5))).toBe(true);

    const bad = await fetch(`${node.url}/chunks/${id}`, { headers: { ...auth, range: `bytes=${data.length}-` } });
    expect(bad.status).toBe(416);
    expect(bad.headers.get("content-range")).toBe(`bytes */${data.length}`);
    expect((await errorOf(bad)).message).toContain("not satisfiable");

    const { id: absent } = makeChunk(10);
    const missing = await fetch(`${node.url}/chunks/${absent}`, {
      headers: { authorization: `Bearer ${await tok("read", [absent])}` },
    });
    expect(await errorOf(missing)).toMatchObject({ status: 404, code: "NOT_FOUND" });

    const invalid = await fetch(`${node.url}/chunks/not-a-hash`, { headers: auth });
    expect(await errorOf(invalid)).toMatchObject({ status: 400, code: "BAD_REQUEST" });
  });

  it("refuses missing, forged, expired and misdirected tokens", async () => {
    const { id, data } = makeChunk(1000);
    const { privateKey: otherKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });

    const cases: [string | undefined, number, string, RegExp][] = [
      [undefined, 401, "UNAUTHENTICATED", /missing capability token/],
      [
        await cp.mint({ aud: [nodeId], op: "write", chunks: [id], signWith: otherKey }),
        401,
        "UNAUTHENTICATED",
        /signature/,
      ],
      [await cp.mint({ aud: [nodeId], op: "write", chunks: [id], expiresIn: -60 }), 401, "TOKEN_EXPIRED", /expired/],
      [await cp.mint({ aud: [nodeId], op: "write", chunks: [id], iss: "someone-else" }), 401, "UNAUTHENTICATED", /iss/],
      ["not.a.jwt", 401, "UNAUTHENTICATED", /malformed/],
      [await tok("read", [id]), 403, "FORBIDDEN", /grants "read".*needs "write"/],
      [await cp.mint({ aud: [randomUUID()], op: "write", chunks: [id] }), 403, "FORBIDDEN", /not for this node/],
      [await tok("write", [makeChunk(10).id]), 403, "FORBIDDEN", new RegExp(`does not cover chunk ${id}`)],
    ];
    for (const [token, status, code, message] of cases) {
      const err = await errorOf(await put(node, id, data, token));
      expect(err, `token case ${code} ${message}`).toMatchObject({ status, code });
      expect(err.message).toMatch(message);
    }
    // Within the 30 s clock tolerance an expired token still works.
    const justExpired = await cp.mint({ aud: [nodeId], op: "write", chunks: [id], expiresIn: -5 });
    expect((await put(node, id, data, justExpired)).status).toBe(201);
    // Nothing refused above was stored.
    const del = await fetch(`${node.url}/chunks/${id}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${await tok("delete", [id])}` },
    });
    expect(del.status).toBe(204);
  });

  it("refuses a token bound to another client address (the ip claim), accepts it from that address", async () => {
    const { id, data } = makeChunk(2000);
    // The test reaches the node over 127.0.0.1: any loopback address is this client.
    for (const ip of ["127.0.0.1", "::1", "::ffff:127.0.0.1"]) {
      expect((await put(node, id, data, await tok("write", [id], { ip }))).status, ip).toBe(201);
    }
    const elsewhere = await tok("write", [id], { ip: "203.0.113.9" });
    const refused = await errorOf(await put(node, id, data, elsewhere));
    expect(refused).toMatchObject({ status: 403, code: "FORBIDDEN" });
    expect(refused.message).toMatch(/issued to 203\.0\.113\.9, not to this client \(.*127\.0\.0\.1\)/);
    const read = await fetch(`${node.url}/chunks/${id}?token=${await tok("read", [id], { ip: "2001:db8::7" })}`);
    expect(await errorOf(read)).toMatchObject({ status: 403, code: "FORBIDDEN" });
    const ok = await fetch(`${node.url}/chunks/${id}?token=${await tok("read", [id], { ip: "127.0.0.1" })}`);
    expect(ok.status).toBe(200);
  });

  it("answers 413 from the headers of an oversized PUT, before any body is sent", async () => {
    const { id } = makeChunk(10);
    const token = await tok("write", [id]);
    for (const expectContinue of [false, true]) {
      const { status, body, continued } = await headersOnlyPut(
        `${node.url}/chunks/${id}`,
        token,
        MAX_CHUNK_BYTES + 1,
        expectContinue,
      );
      expect(status).toBe(413);
      expect(continued).toBe(false);
      expect(ZErrorBody.parse(JSON.parse(body)).error.code).toBe("PAYLOAD_TOO_LARGE");
    }
  });

  it("refuses a body whose hash does not match with 422 and stores nothing", async () => {
    const { id } = makeChunk(20_000);
    const wrong = makeChunk(20_000).data;
    const err = await errorOf(await put(node, id, wrong, await tok("write", [id])));
    expect(err).toMatchObject({ status: 422, code: "HASH_MISMATCH" });
    const get = await fetch(`${node.url}/chunks/${id}`, {
      headers: { authorization: `Bearer ${await tok("read", [id])}` },
    });
    expect(get.status).toBe(404);
    expect(await readdir(path.join(node.dataDir, "tmp"))).toEqual([]);
  });

  it("drops a body cut off mid-upload without leaving anything behind", async () => {
    const { id, data } = makeChunk(200_000);
    const token = await tok("write", [id]);
    const before = node.store.usage().chunkCount;
    await new Promise<void>((resolve) => {
      const req = http.request(`${node.url}/chunks/${id}`, {
        method: "PUT",
        headers: { authorization: `Bearer ${token}`, "content-length": String(data.length) },
      });
      req.on("error", () => resolve());
      req.write(data.subarray(0, 100_000), () => setTimeout(() => req.destroy(), 50));
      req.on("close", () => resolve());
    });
    await waitFor(async () => (await readdir(path.join(node.dataDir, "tmp"))).length === 0);
    expect(node.store.usage().chunkCount).toBe(before);
    expect(await node.store.stat(id)).toBeNull();
  });

  it("deletes, lists the inventory in pages, and reports health and metrics", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { id, data } = makeChunk(1000 + i);
      expect((await put(node, id, data, await tok("write", [id]))).status).toBe(201);
      ids.push(id);
    }
    const inv = await tok("inventory", []);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor ? `&cursor=${cursor}` : "";
      const res = await fetch(`${node.url}/inventory?limit=2${q}`, { headers: { authorization: `Bearer ${inv}` } });
      expect(res.status).toBe(200);
      const page = ZInventoryPage.parse(await res.json());
      expect(page.chunks.length).toBeLessThanOrEqual(2);
      seen.push(...page.chunks.map((c) => c.id));
      cursor = page.next;
      pages++;
    } while (cursor !== null);
    expect(pages).toBeGreaterThanOrEqual(3);
    expect(seen).toEqual([...seen].sort());
    for (const id of ids) expect(seen).toContain(id);

    const wrongOp = await fetch(`${node.url}/inventory`, {
      headers: { authorization: `Bearer ${await tok("read", [])}` },
    });
    expect((await errorOf(wrongOp)).code).toBe("FORBIDDEN");

    const victim = ids[0]!;
    const delTok = await tok("delete", [victim]);
    const del = await fetch(`${node.url}/chunks/${victim}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${delTok}` },
    });
    expect(del.status).toBe(204);
    const del2 = await fetch(`${node.url}/chunks/${victim}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${delTok}` },
    });
    expect(del2.status).toBe(404);

    const health = ZNodeHealth.parse(await (await fetch(`${node.url}/health`)).json());
    expect(health).toMatchObject({ ok: true, nodeId, name: "node-a", site: "test", epoch: cp.node("node-a").epoch });
    expect(usageWithoutFree(health.usage)).toEqual(usageWithoutFree(node.store.usage()));

    const metrics = await (await fetch(`${node.url}/metrics`)).text();
    expect(metrics).toMatch(/cumulus_node_bytes_in_total \d+/);
    expect(metrics).toMatch(/cumulus_node_chunks_stored \d+/);
    expect(metrics).toMatch(/cumulus_node_http_requests_total\{route="put_chunk",status="201"\} \d+/);
  });

  it("answers CORS preflights and lets browsers read answers, errors included (the web UI uploads directly)", async () => {
    const origin = "http://cumulus.example:3000";
    const pre = await fetch(`${node.url}/chunks/${makeChunk(10).id}`, {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": "PUT",
        "access-control-request-headers": "authorization,content-type",
        "access-control-request-private-network": "true",
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("*");
    expect(pre.headers.get("access-control-allow-methods")).toContain("PUT");
    expect(pre.headers.get("access-control-allow-methods")).toContain("GET");
    const allowed = pre.headers.get("access-control-allow-headers")!.split(/,\s*/);
    expect(allowed).toEqual(expect.arrayContaining(["authorization", "content-type", "range"]));
    expect(pre.headers.get("access-control-allow-private-network")).toBe("true");
    expect(pre.headers.get("access-control-allow-credentials")).toBeNull();
    expect(await pre.text()).toBe("");

    const { id, data } = makeChunk(2000);
    const putRes = await fetch(`${node.url}/chunks/${id}`, {
      method: "PUT",
      body: data,
      headers: {
        origin,
        authorization: `Bearer ${await tok("write", [id])}`,
        "content-type": "application/octet-stream",
      },
    });
    expect(putRes.status).toBe(201);
    expect(putRes.headers.get("access-control-allow-origin")).toBe("*");
    const get = await fetch(`${node.url}/chunks/${id}`, {
      headers: { origin, authorization: `Bearer ${await tok("read", [id])}`, range: "bytes=0-9" },
    });
    expect(get.status).toBe(206);
    expect(get.headers.get("access-control-allow-origin")).toBe("*");
    expect(get.headers.get("access-control-expose-headers")).toContain("content-range");
    const refused = await fetch(`${node.url}/chunks/${id}`, { method: "PUT", body: data, headers: { origin } });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("access-control-allow-origin")).toBe("*");
    // Preflights are not chunk requests: nothing was stored or counted as one.
    expect(await (await fetch(`${node.url}/metrics`)).text()).toMatch(/route="preflight",status="204"/);
  });

  it("never serves a chunk corrupted on disk: 404 before any byte, then quarantined", async () => {
    const { id, data } = makeChunk(300_000);
    await put(node, id, data, await tok("write", [id]));
    const file = path.join(node.dataDir, "chunks", id.slice(0, 2), id.slice(2, 4), id);
    const fh = await openFile(file, "r+");
    await fh.write(Buffer.from([data[150_000]! ^ 0x01]), 0, 1, 150_000);
    await fh.close();
    await utimes(file, new Date(), new Date(Date.now() + 5000));

    const read = await tok("read", [id]);
    const res = await fetch(`${node.url}/chunks/${id}`, { headers: { authorization: `Bearer ${read}` } });
    // A whole-chunk GET is verified before the response starts.
    expect(res.status).toBe(404);
    expect(ZErrorBody.parse(await res.json()).error.message).toMatch(/failed verification/);

    await waitFor(
      async () =>
        (await fetch(`${node.url}/chunks/${id}`, { headers: { authorization: `Bearer ${read}` } })).status === 404,
    );
    const inv = await fetch(`${node.url}/inventory?limit=10000`, {
      headers: { authorization: `Bearer ${await tok("inventory", [])}` },
    });
    expect(ZInventoryPage.parse(await inv.json()).chunks.map((c) => c.id)).not.toContain(id);
    expect(await (await fetch(`${node.url}/metrics`)).text()).toMatch(/cumulus_node_corrupt_chunks_total 1/);
  });
});

describe("write pipeline across three nodes", () => {
  let cp: FakeControlPlane;
  const nodes: TestNode[] = [];

  beforeAll(async () => {
    cp = await FakeControlPlane.start();
    for (const name of ["pipe-1", "pipe-2", "pipe-3"]) nodes.push(await startTestNode(cp, name));
  });
  afterAll(async () => {
    for (const n of nodes) await n.stop();
    await cp?.close();
  });

  const pipelineToken = (id: string, hops: TestNode[]) =>
    cp.mint({
      aud: hops.map((n) => n.nodeId()),
      op: "write",
      chunks: [id],
      pipeline: hops.map((n) => ({ nodeId: n.nodeId(), url: n.url })),
    });

  it("forwards through every hop and returns all receipts in pipeline order", async () => {
    const { id, data } = makeChunk(MAX_CHUNK_BYTES);
    const res = await put(nodes[0]!, id, data, await pipelineToken(id, nodes));
    expect(res.status).toBe(201);
    const body = ZPutChunkResponse.parse(await res.json());
    expect(body.receipts).toHaveLength(3);
    for (const [i, n] of nodes.entries()) {
      const claims = await verifyReceipt(cp, body.receipts[i]!, n.state.name);
      expect(claims).toMatchObject({ chunk: id, size: data.length });
      const read = await cp.mint({ aud: [n.nodeId()], op: "read", chunks: [id] });
      const got = await fetch(`${n.url}/chunks/${id}`, { headers: { authorization: `Bearer ${read}` } });
      expect(Buffer.from(await got.arrayBuffer()).equals(data)).toBe(true);
    }
  });

  it("checks a bound token's address at the first hop only: later hops get the chunk from the hop before", async () => {
    const { id, data } = makeChunk(50_000);
    const hops = nodes.map((n) => ({ nodeId: n.nodeId(), url: n.url }));
    const aud = nodes.map((n) => n.nodeId());
    const mine = await cp.mint({ aud, op: "write", chunks: [id], pipeline: hops, ip: "127.0.0.1" });
    const res = await put(nodes[0]!, id, data, mine);
    expect(res.status).toBe(201);
    expect(ZPutChunkResponse.parse(await res.json()).receipts).toHaveLength(3);
    const other = await cp.mint({ aud, op: "write", chunks: [id], pipeline: hops, ip: "198.51.100.4" });
    expect(await errorOf(await put(nodes[0]!, id, data, other))).toMatchObject({ status: 403, code: "FORBIDDEN" });
  });

  it("refuses a pipeline that does not include the receiving node", async () => {
    const { id, data } = makeChunk(100);
    const token = await cp.mint({
      aud: nodes.map((n) => n.nodeId()),
      op: "write",
      chunks: [id],
      pipeline: [nodes[1]!, nodes[2]!].map((n) => ({ nodeId: n.nodeId(), url: n.url })),
    });
    expect(await errorOf(await put(nodes[0]!, id, data, token))).toMatchObject({ status: 403, code: "FORBIDDEN" });
  });

  it("fails with 503 naming the failed node when a downstream hop is down", async () => {
    const [n1, n2, n3] = nodes as [TestNode, TestNode, TestNode];
    const n2Id = n2.nodeId();
    const n3Id = n3.nodeId();

    // The last hop down: the middle node reports it, the head relays that.
    await n3.stop();
    const a = makeChunk(100_000);
    const errA = await errorOf(await put(n1, a.id, a.data, await pipelineToken(a.id, [n1, n2, n3])));
    expect(errA).toMatchObject({ status: 503, code: "UNAVAILABLE", details: { failedNodeId: n3Id } });
    expect(errA.message).toContain(n3Id);

    await n2.stop();
    const b = makeChunk(100_000);
    const errB = await errorOf(await put(n1, b.id, b.data, await pipelineToken(b.id, [n1, n2, n3])));
    expect(errB).toMatchObject({ status: 503, code: "UNAVAILABLE", details: { failedNodeId: n2Id } });
    expect(errB.message).toContain(n2Id);
  });
});

describe("disk full", () => {
  it("answers 507 DISK_FULL naming the node, leaving nothing behind", async () => {
    const cp = await FakeControlPlane.start();
    const node = await startTestNode(cp, "tiny", { capacityBytes: 10_000 });
    try {
      const ok = makeChunk(6_000);
      const tokOk = await cp.mint({ aud: [node.nodeId()], op: "write", chunks: [ok.id] });
      expect((await put(node, ok.id, ok.data, tokOk)).status).toBe(201);
      const big = makeChunk(6_000);
      const tokBig = await cp.mint({ aud: [node.nodeId()], op: "write", chunks: [big.id] });
      const err = await errorOf(await put(node, big.id, big.data, tokBig));
      expect(err).toMatchObject({ status: 507, code: "DISK_FULL" });
      expect(err.message).toContain("tiny");
      expect(node.store.usage()).toMatchObject({ usedBytes: 6_000, chunkCount: 1 });
      expect(await readdir(path.join(node.dataDir, "tmp"))).toEqual([]);

      // A client that waits for `100 Continue` is refused before it sends the body.
      const early = await headersOnlyPut(`${node.url}/chunks/${big.id}`, tokBig, big.data.length, true);
      expect(early).toMatchObject({ status: 507, continued: false });
    } finally {
      await node.stop();
      await cp.close();
    }
  });
});

describe("registration and heartbeats", () => {
  it("retries registration with backoff and answers 503 until registered", async () => {
    // A port nobody listens on yet: the control plane is not up.
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const node = await startTestNode(
      { url, joinToken: "test-join-token-0123456789" },
      "late",
      {},
      { waitReady: false },
    );
    let cp: FakeControlPlane | undefined;
    try {
      const { id } = makeChunk(10);
      const early = await errorOf(await fetch(`${node.url}/chunks/${id}`));
      expect(early).toMatchObject({ status: 503, code: "UNAVAILABLE" });
      const health = ZNodeHealth.parse(await (await fetch(`${node.url}/health`)).json());
      expect(health.ok).toBe(false);

      await waitFor(async () => failures(node) >= 2);
      cp = await FakeControlPlane.start(port);
      cp.failRegistrations = 2; // then it answers 503 twice
      await node.ready;
      expect(failures(node)).toBeGreaterThanOrEqual(4);
      expect(node.logs().some((l) => l.msg === "storage node ready" && l.name === "late" && l.port === node.port)).toBe(
        true,
      );
      expect(cp.registerRequests[0]).toMatchObject({ name: "late", site: "test", dataUrl: node.url });
      const tok = await cp.mint({ aud: [node.nodeId()], op: "read", chunks: [id] });
      expect((await fetch(`${node.url}/chunks/${id}`, { headers: { authorization: `Bearer ${tok}` } })).status).toBe(
        404,
      );
    } finally {
      await node.stop();
      await cp?.close();
    }
  });

  it("sends valid heartbeats and re-registers on STALE_EPOCH and on an unknown node", async () => {
    const cp = await FakeControlPlane.start();
    cp.heartbeatIntervalMs = 50;
    const node = await startTestNode(cp, "hb");
    try {
      await waitFor(async () => cp.heartbeats.filter((h) => h.name === "hb").length >= 2);
      expect(node.state.epoch).toBe(1);
      const hb = cp.heartbeats.find((h) => h.name === "hb")!;
      // The free space is measured at each heartbeat: other programs write to this disk.
      const usage = node.store.usage();
      expect(usageWithoutFree(hb.body.usage)).toEqual(usageWithoutFree(usage));
      expect(hb.body.usage.availableBytes).toBeGreaterThan(0);
      expect(hb.body.usage.availableBytes).toBeLessThanOrEqual(usage.capacityBytes - usage.usedBytes);

      cp.bumpEpoch("hb"); // control plane now at epoch 2: the node's 1 is stale
      await waitFor(async () => node.state.epoch === 3);
      expect(cp.node("hb").registrations).toBe(2);
      expect(node.logs().some((l) => typeof l.msg === "string" && l.msg.includes("STALE_EPOCH"))).toBe(true);

      // Receipts carry the new epoch.
      const { id, data } = makeChunk(500);
      const res = await put(node, id, data, await cp.mint({ aud: [node.nodeId()], op: "write", chunks: [id] }));
      const receipt = ZPutChunkResponse.parse(await res.json()).receipts[0]!;
      expect((await verifyReceipt(cp, receipt, "hb")).epoch).toBe(3);

      const oldId = node.nodeId();
      cp.nodes.delete("hb"); // control plane forgot the node (404 on heartbeat)
      await waitFor(async () => node.state.nodeId !== oldId && node.state.registered);
      expect(cp.node("hb").nodeId).toBe(node.state.nodeId);
      expect(cp.protocolErrors()).toEqual([]);
    } finally {
      await node.stop();
      await cp.close();
    }
  });
});

/** Sends only the headers of a PUT and reports what the server answered. */
function headersOnlyPut(
  url: string,
  token: string,
  contentLength: number,
  expectContinue: boolean,
): Promise<{ status: number; body: string; continued: boolean }> {
  return new Promise((resolve, reject) => {
    let continued = false;
    const req = http.request(url, {
      method: "PUT",
      headers: {
        authorization: `Bearer ${token}`,
        "content-length": String(contentLength),
        ...(expectContinue ? { expect: "100-continue" } : {}),
      },
    });
    req.on("continue", () => (continued = true));
    req.on("response", (res) => {
      let text = "";
      res.on("data", (b: Buffer) => (text += b.toString()));
      res.on("end", () => {
        resolve({ status: res.statusCode ?? 0, body: text, continued });
        req.destroy();
      });
    });
    req.on("error", reject);
    req.flushHeaders(); // headers only: the body is never written
  });
}

function failures(node: TestNode): number {
  return node
    .logs()
    .filter((l) => typeof l.msg === "string" && l.msg.startsWith("registration with the control plane failed")).length;
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function waitFor(cond: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}
