// Runs in namespace A (or on loopback) for bench/wan.ts: PUTs the chunks in <dir> to the node
// in <dir>/node.json over `http` or `udt`, cycling through them until `bytes` were sent or
// `maxSeconds` passed, `parallel` at a time. Prints {bytes, ms} as JSON.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { putChunk } from "../../packages/client/src/chunks.ts";
import { udtWanTuning } from "../../packages/client/src/node/udt-pool.ts";
import { UdtChunkTransport } from "../../packages/client/src/node/udt-transport.ts";

const [transport, dir, bytesArg, secondsArg, parallelArg] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
];
const target = Number(bytesArg);
const maxMs = Number(secondsArg) * 1000;
const parallel = Number(parallelArg);
const info = JSON.parse(await readFile(path.join(dir, "node.json"), "utf8")) as {
  url: string;
  udt: string;
  token: string;
};
const ids = JSON.parse(await readFile(path.join(dir, "ids.json"), "utf8")) as string[];
const chunks = await Promise.all(
  ids.map(async (id) => ({ id, data: new Uint8Array(await readFile(path.join(dir, `${id}.bin`))) })),
);
const ref = { node: "branch-1", site: "branch", url: info.url, udt: info.udt };
// WAN_UDT_RATE_MBIT: the link rate for UDT's rate-based controller (native/udt `rateMbit`);
// unset = UDT's native congestion control.
const rateMbit = process.env.WAN_UDT_RATE_MBIT ? Number(process.env.WAN_UDT_RATE_MBIT) : undefined;
const udt =
  transport === "udt"
    ? new UdtChunkTransport({
        mode: "udt",
        site: "hq",
        poolOptions: { tuning: udtWanTuning(rateMbit) },
      })
    : null;
const put = udt ? udt.putChunk : putChunk;
let sent = 0;
let next = 0;
const t0 = performance.now();
async function worker(): Promise<void> {
  while (sent < target && performance.now() - t0 < maxMs) {
    const c = chunks[next++ % chunks.length]!;
    sent += c.data.length;
    await put(fetch, ref, info.token, c.id, c.data, { timeoutMs: 600_000 });
  }
}
await Promise.all(Array.from({ length: parallel }, worker));
const ms = performance.now() - t0;
udt?.close();
// A node without a UDT address silently gets HTTP: that would not be a UDT measurement.
if (udt && udt.udtChunks * chunks[0]!.data.length < sent) {
  process.stderr.write(`only ${udt.udtChunks} chunks went over UDT (is the node's UDT listener up?)\n`);
  process.exit(1);
}
process.stdout.write(JSON.stringify({ bytes: sent, ms }) + "\n");
process.exit(0);
