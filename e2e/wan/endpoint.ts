/**
 * Traffic endpoints for the WAN emulator, run inside a namespace by measure.ts:
 *
 *   node endpoint.ts tcp-recv  --host H --port P --seconds S
 *   node endpoint.ts tcp-send  --host H --port P --seconds S [--bytes N]
 *   node endpoint.ts udp-echo  --host H --port P --seconds S
 *   node endpoint.ts udp-ping  --host H --port P --count N --interval-ms I [--timeout-ms T]
 *
 * Servers print "READY" once listening. Every mode prints one JSON result line at the
 * end and exits; all exit when stdin closes (the parent died) or after their deadline.
 * (The raw-capacity UDP blast is relay/wan-udp.c: Node costs too much CPU per datagram.)
 */
import dgram from "node:dgram";
import net from "node:net";
import { parseArgs } from "node:util";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    host: { type: "string", default: "0.0.0.0" },
    port: { type: "string", default: "5201" },
    seconds: { type: "string", default: "5" },
    count: { type: "string", default: "100" },
    bytes: { type: "string" },
    "interval-ms": { type: "string", default: "10" },
    "timeout-ms": { type: "string", default: "1000" },
  },
});
const mode = positionals[0];
const host = values.host;
const port = Number(values.port);
const seconds = Number(values.seconds);

const now = (): number => performance.now();
function done(result: unknown): never {
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
  // process.exit happens in the write callback; keep TS happy
  return undefined as never;
}
process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();

function tcpRecv(): void {
  const server = net.createServer({ noDelay: true }, (sock) => {
    server.close();
    const t0 = now();
    let bytes = 0;
    let first = -1;
    let last = -1;
    const samples: [number, number][] = [];
    const timer = setInterval(() => samples.push([Math.round(now() - t0), bytes]), 100);
    let complete = false;
    const finish = (): void => {
      clearInterval(timer);
      samples.push([Math.round(now() - t0), bytes]);
      sock.destroy();
      done({ bytes, complete, firstByteMs: first, lastByteMs: last, elapsedMs: now() - t0, samples });
    };
    const deadline = setTimeout(finish, seconds * 1000);
    sock.on("data", (d: Buffer) => {
      const t = now() - t0;
      if (first < 0) first = t;
      last = t;
      bytes += d.length;
    });
    sock.on("end", () => {
      complete = true; // the sender finished (fixed-size transfer)
      clearTimeout(deadline);
      finish();
    });
    sock.on("error", () => {
      clearTimeout(deadline);
      finish();
    });
  });
  server.listen(port, host, () => process.stdout.write("READY\n"));
  setTimeout(() => done({ error: "no connection" }), (seconds + 30) * 1000).unref();
}

function tcpSend(): void {
  const chunk = Buffer.alloc(1 << 20, 0x5a);
  let written = 0;
  const t0 = now();
  const sock = net.connect({ host, port, noDelay: true });
  const finish = (): void => done({ bytesWritten: written, elapsedMs: now() - t0 });
  // The receiver decides the measurement window and closes; this is only a safety net.
  const hard = setTimeout(
    () => {
      sock.destroy();
      finish();
    },
    (seconds + 10) * 1000,
  );
  sock.on("error", () => {});
  sock.on("close", () => {
    clearTimeout(hard);
    finish();
  });
  const limit = values.bytes === undefined ? Infinity : Number(values.bytes);
  const pump = (): void => {
    while (!sock.destroyed) {
      if (written >= limit) {
        sock.end(); // fixed size sent: FIN, then "close" once the receiver has it all
        return;
      }
      const part = limit - written < chunk.length ? chunk.subarray(0, limit - written) : chunk;
      written += part.length;
      if (!sock.write(part)) {
        sock.once("drain", pump);
        return;
      }
    }
  };
  sock.on("connect", pump);
}

function udpEcho(): void {
  const sock = dgram.createSocket("udp4");
  sock.on("message", (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
  sock.bind(port, host, () => process.stdout.write("READY\n"));
  setTimeout(() => {
    sock.close();
    done({ ok: true });
  }, seconds * 1000);
}

function udpPing(): void {
  const count = Number(values.count);
  const interval = Number(values["interval-ms"]);
  const timeout = Number(values["timeout-ms"]);
  const sentAt = new Map<number, number>();
  const rtts: number[] = [];
  const sock = dgram.createSocket("udp4");
  sock.on("message", (msg) => {
    const seq = msg.readUInt32BE(0);
    const t = sentAt.get(seq);
    if (t !== undefined) {
      rtts.push(now() - t);
      sentAt.delete(seq);
    }
  });
  sock.connect(port, host, () => {
    let seq = 0;
    const buf = Buffer.alloc(64);
    const t0 = now();
    const tick = (): void => {
      // schedule against absolute time so the interval does not drift
      while (seq < count && now() - t0 >= seq * interval) {
        buf.writeUInt32BE(seq, 0);
        sentAt.set(seq, now());
        sock.send(buf);
        seq++;
      }
      if (seq < count) setTimeout(tick, Math.max(0, t0 + seq * interval - now()));
      else
        setTimeout(() => {
          sock.close();
          done({ sent: count, received: rtts.length, rttsMs: rtts });
        }, timeout);
    };
    tick();
  });
}

switch (mode) {
  case "tcp-recv":
    tcpRecv();
    break;
  case "tcp-send":
    tcpSend();
    break;
  case "udp-echo":
    udpEcho();
    break;
  case "udp-ping":
    udpPing();
    break;
  default:
    process.stderr.write(`unknown mode ${mode}\n`);
    process.exit(2);
}
