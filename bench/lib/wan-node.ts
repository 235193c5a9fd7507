// Runs inside the emulator's namespace B (bench/wan.ts): a fake control plane and one real
// storage node (HTTP + UDT on `host`), then writes {url, udt, token} for the chunk ids in
// <dir>/ids.json to <dir>/node.json and stays up until killed.
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { FakeControlPlane } from "../../apps/storage-node/src/testing/fake-control-plane.ts";
import { startTestNode } from "../../apps/storage-node/src/testing/util.ts";

const [host, dir] = process.argv.slice(2) as [string, string];
const ids = JSON.parse(await readFile(path.join(dir, "ids.json"), "utf8")) as string[];
const cp = await FakeControlPlane.start();
// WAN_UDT_RATE_MBIT: the link rate for UDT's rate-based controller, as on the sender.
const udtRateMbit = process.env.WAN_UDT_RATE_MBIT ? Number(process.env.WAN_UDT_RATE_MBIT) : undefined;
const node = await startTestNode(cp, "branch-1", { site: "branch", host, shutdownTimeoutMs: 1000, udtRateMbit });
const self = {
  nodeId: node.nodeId(),
  url: node.url,
  site: "branch",
  ...(node.udtAddress ? { udt: node.udtAddress } : {}),
};
const token = await cp.mint({ aud: [self.nodeId], op: "write", chunks: ids, pipeline: [self], expiresIn: 7200 });
await writeFile(path.join(dir, "node.json"), JSON.stringify({ url: node.url, udt: node.udtAddress, token }));
process.on("SIGTERM", () => void node.stop().finally(() => process.exit(0)));
