// One end of a UDT transfer across the emulator, for udt.test.ts (runs inside a namespace).
//   node udt-peer.ts serve <host> <rateMbit>             prints {"port"}, then per connection
//                                                        {"bytes","sha256","retrans"} and exits
//   node udt-peer.ts send <host> <port> <MiB> <seed> <rateMbit>
//                                                        sends seeded bytes, prints {"sha256","retrans"}
import { createHash } from "node:crypto";
import { connect, listen, type UdtSocket } from "../../native/udt/lib/index.ts";

const [mode, host, a, b, c, d] = process.argv.slice(2);
const MiB = 1024 * 1024;
const tuning = (rate: string | undefined) => ({
  sendBufferSize: 16 * MiB,
  receiveBufferSize: 16 * MiB,
  udpSendBufferSize: 8 * MiB,
  udpReceiveBufferSize: 8 * MiB,
  ...(rate && rate !== "0" ? { rateMbit: Number(rate) } : {}),
});

/** Deterministic bytes (xorshift32 over 32-bit words) so both ends agree without shipping data. */
function block(seed: number, index: number): Buffer {
  const buf = Buffer.allocUnsafe(MiB);
  let x = (seed * 2654435761 + index * 40503 + 1) >>> 0 || 1;
  for (let i = 0; i < MiB; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    buf.writeUInt32LE(x, i);
  }
  return buf;
}

function retransmitted(s: UdtSocket): number {
  return s.getStats()?.pktRetransTotal ?? 0;
}

if (mode === "serve") {
  const server = listen({ host: host!, port: 0, ...tuning(a) });
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
  const socket: UdtSocket = await new Promise((r) => server.once("connection", r));
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const piece of socket as AsyncIterable<Buffer>) {
    hash.update(piece);
    bytes += piece.length;
  }
  process.stdout.write(JSON.stringify({ bytes, sha256: hash.digest("hex") }) + "\n");
  await server.close();
} else if (mode === "send") {
  const socket = await connect({ host: host!, port: Number(a), timeoutMs: 20_000, ...tuning(d) });
  const hash = createHash("sha256");
  const total = Number(b);
  for (let i = 0; i < total; i++) {
    const buf = block(Number(c), i);
    hash.update(buf);
    if (!socket.write(buf)) await new Promise((r) => socket.once("drain", r));
  }
  const retrans = await new Promise<number>((resolve, reject) => {
    let last = 0;
    const timer = setInterval(() => (last = retransmitted(socket) || last), 50);
    socket.once("error", reject);
    socket.end(() => {
      clearInterval(timer);
      resolve(Math.max(last, retransmitted(socket)));
    });
  });
  process.stdout.write(JSON.stringify({ sha256: hash.digest("hex"), retrans }) + "\n");
  socket.destroy();
} else {
  process.stderr.write("usage: udt-peer.ts serve <host> <rateMbit> | send <host> <port> <MiB> <seed> <rateMbit>\n");
  process.exit(2);
}
