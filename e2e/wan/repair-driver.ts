// The hq side of repair.test.ts, run in the emulator's namespace A: a fake control plane and
// storage node hq-1 on namespace A's address; the branch nodes run as separate processes in
// namespace B and register across the emulated WAN. Steps are driven over stdin/stdout
// (one JSON object per line) so the test can kill -9 a branch node in between.
//   node repair-driver.ts <addrA> <rateMbit>
import { createHash, randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { SignJWT } from "jose";
import { CAPABILITY_ISSUER, type PipelineHop } from "../../packages/protocol/src/node-api.ts";
import { FakeControlPlane } from "../../apps/storage-node/src/testing/fake-control-plane.ts";
import { startTestNode } from "../../apps/storage-node/src/testing/util.ts";
import { replicateOnNode } from "../../packages/control/src/reconciler/node-client.ts";

const [addrA, rate] = process.argv.slice(2) as [string, string];
const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + "\n");
const input = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const nextCommand = async (): Promise<Record<string, unknown>> => {
  const r = await input.next();
  if (r.done) process.exit(0);
  return JSON.parse(r.value) as Record<string, unknown>;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function metric(url: string, name: string): Promise<number> {
  const m = new RegExp(`^${name} (\\d+)$`, "m").exec(await (await fetch(`${url}/metrics`)).text());
  if (!m) throw new Error(`${url}: metric ${name} missing`);
  return Number(m[1]);
}

const cp = await FakeControlPlane.start(0, addrA);
const hq1 = await startTestNode(cp, "hq-1", { site: "hq", host: addrA, udtRateMbit: Number(rate) });
const hqHop: PipelineHop = { nodeId: hq1.nodeId(), url: hq1.url, site: "hq", udt: hq1.udtAddress! };
out({ controlUrl: cp.url, joinToken: cp.joinToken, hq1: hqHop });

// Branch nodes register across the WAN; their hops come from what they announced.
const branch = new Map<string, PipelineHop>();
for (const name of ["branch-1", "branch-2"]) {
  for (;;) {
    const reg = cp.registerRequests.find((r) => r.name === name);
    if (reg && cp.nodes.has(name)) {
      const hop: PipelineHop = { nodeId: cp.node(name).nodeId, url: reg.dataUrl, site: "branch" };
      if (reg.udtAddress) hop.udt = reg.udtAddress;
      branch.set(name, hop);
      break;
    }
    await sleep(100);
  }
}
out({ registered: [...branch.keys()], hops: Object.fromEntries(branch) });

// An upload whose pipeline puts the branch replica on branch-1: hq-1 forwards it across the
// WAN (over UDT: another site).
const data = randomBytes(3 * 1024 * 1024 + 17);
const id = createHash("sha256").update(data).digest("hex");
const b1 = branch.get("branch-1")!;
const b2 = branch.get("branch-2")!;
const put = await cp.mint({ aud: [hqHop.nodeId, b1.nodeId], op: "write", chunks: [id], pipeline: [hqHop, b1] });
const stored = await fetch(`${hq1.url}/chunks/${id}`, {
  method: "PUT",
  headers: { authorization: `Bearer ${put}` },
  body: data,
});
const storedBody = await stored.text();
const receipts = stored.ok ? ((JSON.parse(storedBody) as { receipts?: string[] }).receipts ?? []) : [];
out({
  stored: stored.status,
  body: storedBody,
  receipts: receipts.length,
  b1UdtIn: await metric(b1.url, "cumulus_node_udt_bytes_in_total"),
});

await nextCommand(); // the test killed branch-1 (kill -9)

// The reconciler's repair, as the control plane issues it: branch-2 copies the chunk from
// the surviving replica on hq-1 (POST /replicate with a system replicate token and a read
// token for the source).
const before = {
  b2In: await metric(b2.url, "cumulus_node_udt_bytes_in_total"),
  hqOut: await metric(hq1.url, "cumulus_node_udt_bytes_out_total"),
};
const now = Math.floor(Date.now() / 1000);
const replicate = await new SignJWT({ op: "replicate", chunks: [id], sources: [hqHop] })
  .setProtectedHeader({ alg: "EdDSA" })
  .setIssuer(CAPABILITY_ISSUER)
  .setAudience([b2.nodeId])
  .setSubject("system")
  .setIssuedAt(now - 60)
  .setExpirationTime(now + 300)
  .sign(cp.privateKey);
const readToken = await cp.mint({ aud: [hqHop.nodeId], op: "read", chunks: [id] });
// The reconciler's own client call (packages/control), which also validates the answer.
let repaired: { ok: boolean; sourceNodeId?: string | null; error?: string };
try {
  const r = await replicateOnNode(b2.url, replicate, { chunk: id, size: data.length, readToken }, 120_000);
  repaired = { ok: true, sourceNodeId: r.sourceNodeId };
} catch (err) {
  repaired = { ok: false, error: String(err) };
}
// Read the copy back from branch-2 and compare.
const read = await cp.mint({ aud: [b2.nodeId], op: "read", chunks: [id] });
const back = await fetch(`${b2.url}/chunks/${id}`, { headers: { authorization: `Bearer ${read}` } });
const backHash = back.ok
  ? createHash("sha256")
      .update(Buffer.from(await back.arrayBuffer()))
      .digest("hex")
  : null;
out({
  repaired,
  hq1: hqHop.nodeId,
  size: data.length,
  b2UdtIn: (await metric(b2.url, "cumulus_node_udt_bytes_in_total")) - before.b2In,
  hqUdtOut: (await metric(hq1.url, "cumulus_node_udt_bytes_out_total")) - before.hqOut,
  readBack: back.status,
  intact: backHash === id,
});
await hq1.stop();
await cp.close();
process.exit(0);
