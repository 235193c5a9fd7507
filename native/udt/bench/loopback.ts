// Loopback throughput of the UDT binding: `node native/udt/bench/loopback.ts [MiB] [one|both]`.
// Data is not hashed, so this measures the transport (UDT + addon + stream plumbing).
import { type UdtSocket, connect, listen } from "../lib/index.ts";

const MiB = 1024 * 1024;
const size = Number(process.argv[2] ?? 256) * MiB;
const both = (process.argv[3] ?? "one") === "both";
const block = Buffer.alloc(MiB, 0x5a);

async function sendBytes(socket: UdtSocket, bytes: number): Promise<void> {
  for (let sent = 0; sent < bytes; sent += block.length) {
    if (!socket.write(block)) await new Promise((resolve) => socket.once("drain", resolve));
  }
  await new Promise((resolve) => socket.end(resolve));
}

function countBytes(socket: UdtSocket): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    socket.on("data", (chunk: Buffer) => (n += chunk.length));
    socket.once("end", () => resolve(n));
    socket.once("error", reject);
  });
}

const server = listen({ host: "127.0.0.1", allowHalfOpen: true });
const serverDone = new Promise<number>((resolve) => {
  server.once("connection", async (socket: UdtSocket) => {
    const [received] = await Promise.all([countBytes(socket), both ? sendBytes(socket, size) : socket.end()]);
    resolve(received);
  });
});
const started = performance.now();
const client = await connect({ host: "127.0.0.1", port: server.address().port, allowHalfOpen: true });
const [clientReceived] = await Promise.all([countBytes(client), sendBytes(client, size)]);
const serverReceived = await serverDone;
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage();
const total = clientReceived + serverReceived;
console.log(
  `${both ? "both ways" : "one way"}: ${(total / MiB).toFixed(0)} MiB in ${seconds.toFixed(2)} s = ` +
    `${(total / MiB / seconds).toFixed(0)} MiB/s; process CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s`,
);
await server.close();
