import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

import { afterEach, describe, expect, it } from "vitest";

import { type UdtError, type UdtServer, connect, isUdtError, listen } from "../lib/index.ts";
import { MiB, closed, collect, nextConnection, send, sha256 } from "./helpers.ts";

const INDEX = fileURLToPath(new URL("../lib/index.ts", import.meta.url));

const servers: UdtServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function serve(options: Parameters<typeof listen>[0] = {}): UdtServer {
  const server = listen({ host: "127.0.0.1", ...options });
  servers.push(server);
  return server;
}

describe("UDT loopback", () => {
  it("moves 64 MiB each way at once, intact", { timeout: 30_000 }, async () => {
    // Half-open on both sides: whichever finishes sending first must not end the other's writes.
    const server = serve({ allowHalfOpen: true });
    const toServer = randomBytes(64 * MiB);
    const toClient = randomBytes(64 * MiB);

    const serverSide = nextConnection(server).then(async (socket) => {
      const [received] = await Promise.all([collect(socket), send(socket, toClient)]);
      await closed(socket);
      return received;
    });
    const started = performance.now();
    const client = await connect({ host: "127.0.0.1", port: server.address().port, allowHalfOpen: true });
    const [clientReceived] = await Promise.all([collect(client), send(client, toServer)]);
    const serverReceived = await serverSide;
    const seconds = (performance.now() - started) / 1000;
    await closed(client);

    expect(serverReceived).toEqual({ bytes: toServer.length, sha256: sha256(toServer) });
    expect(clientReceived).toEqual({ bytes: toClient.length, sha256: sha256(toClient) });
    console.log(`UDT loopback: 2 x 64 MiB in ${seconds.toFixed(2)} s = ${(128 / seconds).toFixed(0)} MiB/s aggregate`);
  });

  it("serves 32 concurrent connections (echo with half-close)", { timeout: 30_000 }, async () => {
    const server = serve();
    let accepted = 0;
    const acceptLoop = (async () => {
      for await (const socket of server) {
        accepted++;
        socket.pipe(socket);
        if (accepted === 32) break;
      }
    })();

    const results = await Promise.all(
      Array.from({ length: 32 }, async (_, i) => {
        const payload = randomBytes(MiB + i * 4099);
        const socket = await connect({ host: "127.0.0.1", port: server.address().port });
        const [echoed] = await Promise.all([collect(socket), send(socket, payload, 64 * 1024)]);
        await closed(socket);
        return { echoed, expected: { bytes: payload.length, sha256: sha256(payload) } };
      }),
    );
    await acceptLoop;

    expect(accepted).toBe(32);
    for (const { echoed, expected } of results) expect(echoed).toEqual(expected);
  });

  it("reports an abrupt close by the peer as UDT_ECONNLOST, then closes", { timeout: 15_000 }, async () => {
    const server = serve();
    const serverSide = nextConnection(server).then(async (socket) => {
      socket.write(randomBytes(256 * 1024));
      await sleep(100);
      socket.destroy();
      await closed(socket);
    });
    const client = await connect({ host: "127.0.0.1", port: server.address().port });
    // Keep writing so both directions see the break.
    client.on("data", () => {});
    const writer = setInterval(() => client.writable && client.write(Buffer.alloc(64 * 1024)), 5);
    const started = performance.now();
    const error = await new Promise<Error>((resolve) => client.once("error", resolve));
    await closed(client);
    clearInterval(writer);
    await serverSide;

    expect(isUdtError(error)).toBe(true);
    expect((error as UdtError).code).toBe("UDT_ECONNLOST");
    expect((error as UdtError).udtCode).toBe(2001);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it("ends gracefully: all data, then 'end', no error", { timeout: 15_000 }, async () => {
    const server = serve();
    const payload = randomBytes(3 * MiB + 7);
    nextConnection(server).then((socket) => send(socket, payload));
    const client = await connect({ host: "127.0.0.1", port: server.address().port });
    const errors: Error[] = [];
    client.on("error", (e) => errors.push(e));
    const received = await collect(client);
    await closed(client);
    expect(received).toEqual({ bytes: payload.length, sha256: sha256(payload) });
    expect(errors).toEqual([]);
  });

  it("rejects a connect to a silent port within the timeout", { timeout: 10_000 }, async () => {
    // A bound UDP socket that never answers: nothing else can take the port meanwhile.
    const blackHole = createSocket("udp4");
    await new Promise<void>((resolve) => blackHole.bind(0, "127.0.0.1", resolve));
    const { port } = blackHole.address();
    try {
      const started = performance.now();
      const error = await connect({ host: "127.0.0.1", port, timeoutMs: 500 }).then(
        () => null,
        (e: unknown) => e as UdtError,
      );
      const elapsed = performance.now() - started;
      expect(error).not.toBeNull();
      expect(error?.code).toBe("UDT_ENOSERVER");
      expect(error?.udtCode).toBe(1001);
      expect(error?.message).toContain(`127.0.0.1:${port}`);
      expect(elapsed).toBeGreaterThanOrEqual(450);
      expect(elapsed).toBeLessThan(1_500);
    } finally {
      blackHole.close();
    }
  });

  it("stops reading from UDT while the consumer is paused (backpressure)", { timeout: 30_000 }, async () => {
    const small = { sendBufferSize: MiB, receiveBufferSize: MiB };
    const server = serve(small);
    const payload = randomBytes(48 * MiB);
    let accepted = 0;
    const sender = nextConnection(server).then(async (socket) => {
      for (let offset = 0; offset < payload.length; offset += 256 * 1024) {
        const chunk = payload.subarray(offset, offset + 256 * 1024);
        const more = socket.write(chunk, () => {
          accepted += chunk.length;
        });
        if (!more) await new Promise((resolve) => socket.once("drain", resolve));
      }
      socket.end();
    });
    const client = await connect({ host: "127.0.0.1", port: server.address().port, ...small });
    const hash = createHash("sha256");
    let received = 0;
    let paused = false;
    const ended = new Promise<void>((resolve, reject) => {
      client.once("end", resolve);
      client.once("error", reject);
    });
    client.on("data", (chunk: Buffer) => {
      hash.update(chunk);
      received += chunk.length;
      if (!paused && received >= 4 * MiB) {
        paused = true;
        client.pause();
      }
    });

    // The consumer stops after 4 MiB: once the buffers fill, the sender must stall.
    while (!paused) await sleep(20);
    let previous = -1;
    while (accepted !== previous) {
      previous = accepted;
      await sleep(500);
    }
    expect(client.isPaused()).toBe(true);
    expect(accepted).toBeLessThan(20 * MiB);
    expect(client.readableLength).toBeLessThanOrEqual(5 * MiB);

    client.resume();
    await ended;
    await sender;
    await closed(client);
    expect({ bytes: received, sha256: hash.digest("hex") }).toEqual({ bytes: payload.length, sha256: sha256(payload) });
  });

  it("maps UDT errors and validates options", async () => {
    const server = serve();
    let error: unknown;
    try {
      listen({ host: "127.0.0.1", port: server.address().port });
    } catch (e) {
      error = e;
    }
    expect(isUdtError(error)).toBe(true);
    expect(error).toMatchObject({ code: "UDT_EDUPLISTEN", udtCode: 5011 });

    expect(() => listen({ port: 70_000 })).toThrow(RangeError);
    expect(() => listen({ host: "example.org" })).toThrow(TypeError);
    expect(() => listen({ mss: 10 })).toThrow(RangeError);
    // @ts-expect-error an unknown option is a typo, not something to ignore
    expect(() => listen({ prot: 1 })).toThrow(/unknown option "prot"/);
    await expect(connect({ host: "127.0.0.1", port: 0 })).rejects.toThrow(RangeError);
    await expect(connect({ host: "127.0.0.1", port: 9, timeoutMs: -1 })).rejects.toThrow(RangeError);
    expect(() => listen({ rateMbit: 0 })).toThrow(/rateMbit must be between/);
    expect(() => listen({ rateMbit: Number.NaN })).toThrow(/rateMbit must be a finite number/);
    expect(() => listen({ rateLossThreshold: 0.2 })).toThrow(/rateLossThreshold needs rateMbit/);
    expect(() => listen({ rateMbit: 100, rateLossThreshold: 2 })).toThrow(RangeError);
    // nothing was bound by the rejected calls: the port is still the first server's alone
    expect(() => listen({ host: "127.0.0.1", port: server.address().port })).toThrow(/EDUPLISTEN/);
  });

  it(
    "runs the rate-based congestion control: 4 connections to one peer, both ways, intact",
    { timeout: 60_000 },
    async () => {
      const rate = { rateMbit: 2_000, rateLossThreshold: 0.2 };
      const server = serve({ allowHalfOpen: true, ...rate });
      const serverSide = (async () => {
        const served: Array<Promise<{ bytes: number; sha256: string }>> = [];
        for await (const socket of server) {
          served.push(
            Promise.all([collect(socket), send(socket, randomBytes(4 * MiB))]).then(async ([got]) => {
              await closed(socket);
              return got;
            }),
          );
          if (served.length === 4) break;
        }
        return Promise.all(served);
      })();
      const payloads = Array.from({ length: 4 }, () => randomBytes(16 * MiB));
      const sent = await Promise.all(
        payloads.map(async (data) => {
          const client = await connect({
            host: "127.0.0.1",
            port: server.address().port,
            allowHalfOpen: true,
            ...rate,
          });
          const [back] = await Promise.all([collect(client), send(client, data)]);
          await closed(client);
          return back.bytes;
        }),
      );
      const received = await serverSide;
      expect(sent).toEqual([4 * MiB, 4 * MiB, 4 * MiB, 4 * MiB]);
      expect(received.map((r) => r.sha256).sort()).toEqual(payloads.map((p) => sha256(p)).sort());
    },
  );
});

describe("process lifetime", () => {
  function run(
    script: string,
  ): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string; ms: number }> {
    return new Promise((resolve) => {
      const started = performance.now();
      const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
      child.on("exit", (code, signal) => {
        clearTimeout(killer);
        resolve({ code, signal, stdout, stderr, ms: performance.now() - started });
      });
    });
  }

  const prelude = `
    import { listen, connect } from ${JSON.stringify(INDEX)};
    const server = listen({ host: "127.0.0.1" });
    const accepted = new Promise((resolve) => server.once("connection", resolve));
    const client = await connect({ host: "127.0.0.1", port: server.address().port });
    const peer = await accepted;
    peer.pipe(peer);
    const echoed = new Promise((resolve) => { let n = 0; client.on("data", (d) => { n += d.length; if (n === 1000) resolve(n); }); });
    client.write(Buffer.alloc(1000, 1));
    await echoed;
  `;

  it("exits on its own once sockets and server are closed", { timeout: 20_000 }, async () => {
    const result = await run(`${prelude}
      client.end();
      await new Promise((resolve) => client.once("close", resolve));
      await server.close();
      console.log("closed");
    `);
    expect(result.stderr).toBe("");
    expect(result.stdout.trim()).toBe("closed");
    expect(result.code).toBe(0);
  });

  it("exits cleanly with process.exit() while connections are open", { timeout: 20_000 }, async () => {
    const result = await run(`${prelude}
      console.log("exiting");
      process.exit(3);
    `);
    expect(result.stderr).toBe("");
    expect(result.signal).toBeNull();
    expect(result.code).toBe(3);
  });
});
