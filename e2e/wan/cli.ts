/**
 * Run a command across an emulated WAN link (as root).
 *
 *   node e2e/wan/cli.ts --delay 50 --loss 0.001 --bw 400 [--seed 1] [--cc cubic]
 *        [--queue-bytes N | --queue-factor F] [--reverse-delay MS --reverse-loss P --reverse-bw MBIT]
 *        [--in-b "<server command in nsB>"] [-- <command in nsA> [args...]]
 *
 * --delay is one-way (RTT = 2 x delay); --loss and --bw apply to each direction unless
 * the --reverse-* options say otherwise for B->A. nsA has 10.201.0.1, nsB 10.201.0.2; both
 * commands also get WAN_NS_A, WAN_NS_B, WAN_ADDR_A, WAN_ADDR_B in their environment.
 * Without a command it prints the namespaces and waits for Ctrl-C, so you can use
 * `ip netns exec <ns> ...` from another shell. The relay's counters are printed at the end.
 *
 * Example: node e2e/wan/cli.ts --delay 50 --loss 0.001 --bw 400 --in-b "iperf3 -s -1" -- iperf3 -c 10.201.0.2 -t 10
 */
import type { ChildProcess } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { startWan, wanAvailable, type LinkParams, type Wan } from "./emulator.ts";

const dash = process.argv.indexOf("--");
const own = dash >= 0 ? process.argv.slice(2, dash) : process.argv.slice(2);
const command = dash >= 0 ? process.argv.slice(dash + 1) : [];

const { values } = parseArgs({
  args: own,
  options: {
    delay: { type: "string", default: "0" },
    loss: { type: "string", default: "0" },
    bw: { type: "string", default: "0" },
    seed: { type: "string", default: "1" },
    cc: { type: "string", default: "cubic" },
    "queue-bytes": { type: "string" },
    "queue-factor": { type: "string" },
    "reverse-delay": { type: "string" },
    "reverse-loss": { type: "string" },
    "reverse-bw": { type: "string" },
    "in-b": { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});

if (values.help) {
  const src = await import("node:fs").then((fs) => fs.readFileSync(new URL(import.meta.url), "utf8"));
  console.log(
    /\/\*\*([\s\S]*?)\*\//
      .exec(src)?.[1]
      ?.replace(/^ \* ?/gm, "")
      .trim(),
  );
  process.exit(0);
}

const avail = wanAvailable();
if (!avail.ok) {
  console.error(`wan: ${avail.reason}`);
  process.exit(2);
}

const opt = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
const reverse: LinkParams = {};
if (values["reverse-delay"] !== undefined) reverse.delayMs = Number(values["reverse-delay"]);
if (values["reverse-loss"] !== undefined) reverse.loss = Number(values["reverse-loss"]);
if (values["reverse-bw"] !== undefined) reverse.bandwidthMbit = Number(values["reverse-bw"]);

let wan: Wan | null = null;
let stopping = false;
async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    const stats = await wan?.stop();
    if (stats) console.error(`wan: relay counters ${JSON.stringify(stats, null, 2)}`);
  }
  process.exit(code);
}
// our own handlers, installed before startWan, so the emulator leaves signals to us
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
  process.on(sig, () => void shutdown(sig === "SIGINT" ? 130 : 143));

wan = await startWan({
  delayMs: Number(values.delay),
  loss: Number(values.loss),
  bandwidthMbit: Number(values.bw),
  seed: Number(values.seed),
  tcpCongestion: values.cc,
  queueBytes: opt(values["queue-bytes"]),
  queueFactor: opt(values["queue-factor"]),
  reverse,
});
const env = { ...process.env, WAN_NS_A: wan.nsA, WAN_NS_B: wan.nsB, WAN_ADDR_A: wan.addrA, WAN_ADDR_B: wan.addrB };
const { ab, ba } = wan.options;
const desc = (l: typeof ab): string =>
  `delay ${l.delayMs} ms, loss ${l.loss}, ${l.bandwidthMbit ? `${l.bandwidthMbit} Mbit/s` : "no cap"}`;
console.error(
  `wan: ${wan.nsA} (${wan.addrA}) <-> ${wan.nsB} (${wan.addrB}); A->B ${desc(ab)}; B->A ${desc(ba)}; TCP ${wan.options.tcpCongestion}`,
);

let server: ChildProcess | null = null;
if (values["in-b"]) {
  // `exec` so that the server is the process stop() kills, not a shell above it
  server = wan.spawn(wan.nsB, "sh", ["-c", `exec ${values["in-b"]}`], { stdio: ["ignore", "inherit", "inherit"], env });
  await sleep(300); // let it bind
}

if (command.length === 0) {
  console.error(`wan: try  ip netns exec ${wan.nsA} ping ${wan.addrB}   (Ctrl-C to stop)`);
  await new Promise(() => {});
} else {
  const child = wan.spawn(wan.nsA, command[0]!, command.slice(1), { stdio: "inherit", env });
  const code = await new Promise<number>((resolve) => {
    child.once("exit", (c, s) => resolve(c ?? (s ? 128 : 1)));
    child.once("error", (e) => {
      console.error(`wan: ${e.message}`);
      resolve(127);
    });
  });
  server?.kill("SIGTERM");
  await shutdown(code);
}
