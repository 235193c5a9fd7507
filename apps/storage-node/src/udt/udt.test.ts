// WAN acceleration: the UDT data listener, and pipeline forwarding that crosses sites over
// UDT (verified by the nodes' transfer metrics), on real nodes against the fake control plane.
import { SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isUdtAvailable } from "@cumulus/udt";
import { AppError } from "@cumulus/protocol/errors";
import { UdtChunkTransport } from "@cumulus/client/node/udt-transport";
import { ZPutChunkBatchResponse, encodePutBatchHead } from "@cumulus/protocol/chunk-batch";
import { CAPABILITY_ISSUER, type PipelineHop } from "@cumulus/protocol/node-api";
import { FakeControlPlane } from "../testing/fake-control-plane.ts";
import { getChunk, makeChunk, putChunk, sha256, startTestNode, type TestNode } from "../testing/util.ts";

const hasUdt = isUdtAvailable();

async function metric(node: TestNode, name: string): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)$`, "m").exec(text);
  if (!m) throw new Error(`metric ${name} missing`);
  return Number(m[1]);
}

/** Polls without a deadline of its own (the test timeout bounds it): the machine may be slow. */
async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((r) => setTimeout(r, 100));
}

function hop(n: TestNode, site: string): PipelineHop {
  return { nodeId: n.nodeId(), url: n.url, site, ...(n.udtAddress ? { udt: n.udtAddress } : {}) };
}

describe.skipIf(!hasUdt)("UDT data service", () => {
  let cp: FakeControlPlane;
  let hq1: TestNode;
  let hq2: TestNode;
  let br1: TestNode;
  let client: UdtChunkTransport;

  beforeAll(async () => {
    cp = await FakeControlPlane.start();
    [hq1, hq2, br1] = await Promise.all([
      startTestNode(cp, "hq-1", { site: "hq" }),
      startTestNode(cp, "hq-2", { site: "hq" }),
      // Another address than hq's: a node forwards over UDT only to other hosts (loopback
      // is 127.0.0.0/8, so this is still this machine, but not the hq nodes' host).
      startTestNode(cp, "branch-1", { site: "branch", host: "127.0.0.2" }),
    ]);
    client = new UdtChunkTransport({ mode: "udt", site: "hq" });
  });

  afterAll(async () => {
    client?.close();
    await Promise.all([hq1?.stop(), hq2?.stop(), br1?.stop()]);
    await cp?.close();
  });

  it("announces its UDT address at registration", () => {
    for (const n of [hq1, hq2, br1]) {
      expect(n.udtAddress).toMatch(/^127\.0\.0\.[12]:\d+$/);
      const reg = cp.registerRequests.find((r) => r.name === n.state.name);
      expect(reg?.udtAddress).toBe(n.udtAddress);
    }
  });

  it("forwards a write to a node in another site over UDT, and within a site over HTTP", async () => {
    const before = {
      hqOut: await metric(hq1, "cumulus_node_udt_bytes_out_total"),
      brIn: await metric(br1, "cumulus_node_udt_bytes_in_total"),
      hq2In: await metric(hq2, "cumulus_node_udt_bytes_in_total"),
    };
    const { id, data } = makeChunk(3 * 1024 * 1024 + 17);
    const pipeline = [hop(hq1, "hq"), hop(hq2, "hq"), hop(br1, "branch")];
    expect(await putChunk(cp, hq1, id, data, pipeline)).toHaveLength(3);

    // hq-1 → hq-2 is same-site (HTTP); hq-2 → branch-1 crosses sites (UDT).
    await until(async () => (await metric(br1, "cumulus_node_udt_bytes_in_total")) - before.brIn >= data.length);
    expect((await metric(br1, "cumulus_node_udt_bytes_in_total")) - before.brIn).toBe(data.length);
    expect((await metric(hq2, "cumulus_node_udt_bytes_in_total")) - before.hq2In).toBe(0);
    expect((await metric(hq2, "cumulus_node_udt_bytes_out_total")) - 0).toBeGreaterThanOrEqual(data.length);
    expect((await metric(hq1, "cumulus_node_udt_bytes_out_total")) - before.hqOut).toBe(0);

    expect(sha256(await getChunk(cp, br1, id))).toBe(id);
  });

  it("forwards to a node of another site on its own host over HTTP (no WAN between them)", async () => {
    const before = {
      hqOut: await metric(hq1, "cumulus_node_udt_bytes_out_total"),
      hq2In: await metric(hq2, "cumulus_node_udt_bytes_in_total"),
    };
    const { id, data } = makeChunk(1024 * 1024 + 3);
    // hq-2 listed in another site, at hq-1's own host (127.0.0.1), as a cluster in a box does.
    const pipeline = [hop(hq1, "hq"), hop(hq2, "branch")];
    expect(await putChunk(cp, hq1, id, data, pipeline)).toHaveLength(2);
    expect((await metric(hq1, "cumulus_node_udt_bytes_out_total")) - before.hqOut).toBe(0);
    expect((await metric(hq2, "cumulus_node_udt_bytes_in_total")) - before.hq2In).toBe(0);
    expect(sha256(await getChunk(cp, hq2, id))).toBe(id);
  });

  it("serves PUT, GET and HEAD over UDT with tokens and receipts, and forwards cross-site from there", async () => {
    const { id, data } = makeChunk(1024 * 1024 + 5);
    const pipeline = [hop(br1, "branch"), hop(hq1, "hq")];
    const token = await cp.mint({ aud: pipeline.map((h) => h.nodeId), op: "write", chunks: [id], pipeline });
    const hqIn = await metric(hq1, "cumulus_node_udt_bytes_in_total");
    const first = { node: "branch-1", site: "branch", url: br1.url, udt: br1.udtAddress! };
    const receipts = await client.putChunk(fetch, first, token, id, data);
    expect(receipts).toHaveLength(2);
    expect(client.udtChunks).toBe(1);
    await until(async () => (await metric(hq1, "cumulus_node_udt_bytes_in_total")) - hqIn >= data.length);

    const read = await cp.mint({ aud: [br1.nodeId(), hq1.nodeId()], op: "read", chunks: [id] });
    const hash = (b: Uint8Array) => sha256(b);
    // Two requests on one pooled connection, then a fresh one elsewhere.
    expect(sha256(await client.fetchChunk(fetch, first, read, id, data.length, hash))).toBe(id);
    expect(sha256(await client.fetchChunk(fetch, first, read, id, data.length, hash))).toBe(id);
    const hqRef = { node: "hq-1", site: "hq", url: hq1.url, udt: hq1.udtAddress! };
    expect(sha256(await client.fetchChunk(fetch, hqRef, read, id, data.length, hash))).toBe(id);
    expect(await metric(br1, "cumulus_node_udt_bytes_out_total")).toBeGreaterThanOrEqual(2 * data.length);
  });

  it("answers errors over UDT with the HTTP codes, and keeps serving after them", async () => {
    const { id, data } = makeChunk(4096);
    const ref = { node: "branch-1", site: "branch", url: br1.url, udt: br1.udtAddress! };
    const wrong = await cp.mint({ aud: [hq1.nodeId()], op: "write", chunks: [id], pipeline: [hop(hq1, "hq")] });
    const e1 = await client.putChunk(fetch, ref, wrong, id, data).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(AppError);
    expect((e1 as AppError).code).toBe("FORBIDDEN");

    const read = await cp.mint({ aud: [br1.nodeId()], op: "read", chunks: [id] });
    const e2 = await client.fetchChunk(fetch, ref, read, id, data.length, sha256).catch((e: unknown) => e);
    expect((e2 as AppError).code).toBe("NOT_FOUND");

    const { id: id2, data: data2 } = makeChunk(8192);
    const bad = Buffer.from(data2);
    bad[0] = bad[0]! ^ 1;
    const w2 = await cp.mint({ aud: [br1.nodeId()], op: "write", chunks: [id2], pipeline: [hop(br1, "branch")] });
    const e3 = await client.putChunk(fetch, ref, w2, id2, bad).catch((e: unknown) => e);
    expect((e3 as AppError).code).toBe("HASH_MISMATCH");
    expect(await client.putChunk(fetch, ref, w2, id2, data2)).toHaveLength(1);
  });

  /** Asks `target` to copy chunk `id` from `source`, as the reconciler does (a "system" token). */
  async function replicate(target: TestNode, source: PipelineHop, id: string, size: number): Promise<Response> {
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ op: "replicate", chunks: [id], sources: [source] })
      .setProtectedHeader({ alg: "EdDSA" })
      .setIssuer(CAPABILITY_ISSUER)
      .setAudience([target.nodeId()])
      .setSubject("system")
      .setIssuedAt(now - 60)
      .setExpirationTime(now + 300)
      .sign(cp.privateKey);
    const readToken = await cp.mint({ aud: [source.nodeId], op: "read", chunks: [id] });
    return fetch(`${target.url}/replicate`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ chunk: id, size, readToken }),
    });
  }

  it("copies a chunk for the reconciler from a node in another site over UDT (POST /replicate)", async () => {
    const { id, data } = makeChunk(2 * 1024 * 1024 + 3);
    await putChunk(cp, hq1, id, data, [hop(hq1, "hq")]);
    const brIn = await metric(br1, "cumulus_node_udt_bytes_in_total");
    const hqOut = await metric(hq1, "cumulus_node_udt_bytes_out_total");
    const res = await replicate(br1, hop(hq1, "hq"), id, data.length);
    expect(res.status, await res.clone().text()).toBeLessThan(300);
    expect(((await res.json()) as { sourceNodeId: string }).sourceNodeId).toBe(hq1.nodeId());
    expect((await metric(br1, "cumulus_node_udt_bytes_in_total")) - brIn).toBe(data.length);
    expect((await metric(hq1, "cumulus_node_udt_bytes_out_total")) - hqOut).toBe(data.length);
  });

  it("copies for the reconciler from a node of another site on its own host over HTTP (no WAN between them)", async () => {
    const { id, data } = makeChunk(1024 * 1024 + 5);
    await putChunk(cp, hq1, id, data, [hop(hq1, "hq")]);
    const hq2In = await metric(hq2, "cumulus_node_udt_bytes_in_total");
    const hqOut = await metric(hq1, "cumulus_node_udt_bytes_out_total");
    // hq-1 listed as a source in another site, at hq-2's own host, as a cluster in a box does.
    const res = await replicate(hq2, hop(hq1, "branch"), id, data.length);
    expect(res.status, await res.clone().text()).toBeLessThan(300);
    expect((await metric(hq2, "cumulus_node_udt_bytes_in_total")) - hq2In).toBe(0);
    expect((await metric(hq1, "cumulus_node_udt_bytes_out_total")) - hqOut).toBe(0);
    expect(sha256(await getChunk(cp, hq2, id))).toBe(id);
  });

  it("forwards a batch of small chunks to another site as one HTTP batch, not a UDT connection per chunk", async () => {
    const chunks = [makeChunk(4096), makeChunk(4096), makeChunk(1000)];
    const pipeline = [hop(hq2, "hq"), hop(br1, "branch")];
    const token = await cp.mint({
      aud: pipeline.map((h) => h.nodeId),
      op: "write",
      chunks: chunks.map((c) => c.id),
      pipeline,
    });
    const brIn = await metric(br1, "cumulus_node_udt_bytes_in_total");
    const head = encodePutBatchHead({
      tokens: [token],
      items: chunks.map((c) => ({ id: c.id, size: c.data.length, token: 0 })),
    });
    const res = await fetch(`${hq2.url}/chunks/batch`, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: Buffer.concat([Buffer.from(head), ...chunks.map((c) => c.data)]),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    const { results } = ZPutChunkBatchResponse.parse(await res.json());
    for (const r of results) expect(r.ok && r.receipts.length).toBe(2);
    expect((await metric(br1, "cumulus_node_udt_bytes_in_total")) - brIn).toBe(0);
    const read = await cp.mint({ aud: [br1.nodeId()], op: "read", chunks: chunks.map((c) => c.id) });
    for (const c of chunks) {
      const got = await fetch(`${br1.url}/chunks/${c.id}`, { headers: { authorization: `Bearer ${read}` } });
      expect(sha256(Buffer.from(await got.arrayBuffer()))).toBe(c.id);
    }
  });

  it("reports a cross-site hop whose UDT listener is unreachable as a pipeline failure", async () => {
    const { id, data } = makeChunk(2048);
    const dead = { ...hop(br1, "branch"), udt: "127.0.0.1:9" };
    const pipeline = [hop(hq1, "hq"), dead];
    const token = await cp.mint({ aud: pipeline.map((h) => h.nodeId), op: "write", chunks: [id], pipeline });
    const res = await fetch(`${hq1.url}/chunks/${id}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}` },
      body: data,
    });
    expect(res.status).toBe(503);
    const body = (await res.json()) as { error: { details: { failedNodeId: string } } };
    expect(body.error.details.failedNodeId).toBe(br1.nodeId());
  }, 120_000);
});
