// Its own file so it runs in a fresh worker: UDT frees closed sockets from a garbage
// collector thread seconds later, and leftovers from other tests would blur the counts.
import { readdirSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

import { afterAll, expect, it } from "vitest";

import { type UdtSocket, connect, listen } from "../lib/index.ts";
import { closed } from "./helpers.ts";

const threads = (): number => readdirSync("/proc/self/task").length;
const fds = (): number => readdirSync("/proc/self/fd").length;

/** Waits until thread and fd counts stop changing (UDT frees closed sockets 1-2 s later). */
async function settledCounts(limitMs: number): Promise<{ threads: number; fds: number }> {
  const deadline = Date.now() + limitMs;
  let last = { threads: threads(), fds: fds() };
  let stableSince = Date.now();
  while (Date.now() < deadline) {
    await sleep(200);
    const now = { threads: threads(), fds: fds() };
    if (now.threads !== last.threads || now.fds !== last.fds) {
      last = now;
      stableSince = Date.now();
    } else if (Date.now() - stableSince >= 3000) {
      break;
    }
  }
  return last;
}

const server = listen({ host: "127.0.0.1" });
afterAll(() => server.close());

it("leaks no threads or fds over 1,000 open/close cycles", { timeout: 60_000 }, async () => {
  const port = server.address().port;
  let serverClosed = 0;
  server.on("connection", (socket: UdtSocket) => {
    socket.on("error", () => {});
    socket.on("close", () => serverClosed++);
    socket.resume();
    socket.end();
  });
  // Even cycles close gracefully (both sides end), odd ones abruptly (client destroys).
  const cycle = async (i: number) => {
    const socket = await connect({ host: "127.0.0.1", port });
    socket.on("error", () => {});
    if (i % 2 === 0) {
      socket.resume();
      socket.end();
    } else {
      socket.destroy();
    }
    await closed(socket);
  };

  // Warm up lazily created threads (libuv's pool, UDT's garbage collector) before counting.
  for (let i = 0; i < 8; i++) await cycle(i);
  const before = await settledCounts(10_000);

  const total = 1000;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < total) await cycle(next++);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const deadline = Date.now() + 10_000;
  while (serverClosed < total + 8 && Date.now() < deadline) await sleep(50);
  expect(serverClosed).toBe(total + 8);

  const after = await settledCounts(15_000);
  console.log(
    `1000 connect/close cycles in ${seconds.toFixed(1)} s; threads ${before.threads} -> ${after.threads}, fds ${before.fds} -> ${after.fds}`,
  );
  expect(after).toEqual(before);
});
