// Node-only: UDT connections to storage nodes' UDT listeners, pooled per node, speaking the
// frames of @cumulus/protocol/udt-frames. Used by the client's UDT transport and by storage
// nodes forwarding a write pipeline to another site.
import { connect, type UdtOptions, type UdtSocket } from "@cumulus/udt";
import {
  UDT_FRAMING_VERSION,
  UdtFrameReader,
  ZUdtResponse,
  encodeUdtHeader,
  type UdtRequest,
  type UdtResponse,
} from "@cumulus/protocol/udt-frames";

const MiB = 1024 * 1024;

/**
 * Defaults for WAN links: UDT's buffers must hold a bandwidth-delay product
 * (400 Mbit/s × 200 ms ≈ 10 MB) or the window, not the link, limits throughput. UDT's MSS
 * counts IP and UDP headers, so 1500 fits an Ethernet path MTU.
 */
export const UDT_WAN_TUNING: UdtOptions = {
  sendBufferSize: 48 * MiB,
  receiveBufferSize: 48 * MiB,
  // The addon forces these past net.core.rmem_max where it may (CAP_NET_ADMIN): a receiver
  // held off the CPU for a moment must not lose datagrams in the kernel.
  udpSendBufferSize: 16 * MiB,
  udpReceiveBufferSize: 16 * MiB,
  mss: 1500,
};

/**
 * UDT_WAN_TUNING, plus UDT's rate-based congestion control when the WAN link's rate is
 * known (`rateMbit`, see @cumulus/udt): paced a little below the link so the bottleneck
 * queue stays short.
 */
export function udtWanTuning(linkRateMbit?: number): UdtOptions {
  return linkRateMbit ? { ...UDT_WAN_TUNING, rateMbit: linkRateMbit * 0.95 } : UDT_WAN_TUNING;
}

export { UDT_FRAMING_VERSION };

/** "host:port" (IPv6 as "[::1]:port") → parts. */
export function parseUdtAddress(address: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(address) ?? /^([^:]+):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) throw new TypeError(`invalid UDT address ${JSON.stringify(address)}`);
  return { host: m[1]!, port };
}

export class UdtConnection {
  readonly address: string;
  readonly socket: UdtSocket;
  readonly reader: UdtFrameReader;
  /** Served at least one request before: it may have gone stale in the pool. */
  reused = false;
  idleTimer: NodeJS.Timeout | null = null;

  constructor(address: string, socket: UdtSocket) {
    this.address = address;
    this.socket = socket;
    this.reader = new UdtFrameReader(socket as AsyncIterable<Uint8Array>);
    // Errors surface through the reader and write callbacks; never crash on an unread one.
    socket.on("error", () => undefined);
  }

  get alive(): boolean {
    return !this.socket.destroyed && !this.socket.writableEnded && !this.socket.readableEnded;
  }

  /** Writes bytes; resolves when the socket took them (backpressure), rejects if it broke. */
  write(buf: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.socket.destroyed) {
        reject(Object.assign(new Error("UDT connection closed"), { code: "UDT_ECONNLOST" }));
        return;
      }
      const ok = this.socket.write(buf, (err) => {
        if (err) reject(err);
      });
      if (ok) resolve();
      else {
        const done = () => {
          this.socket.off("drain", done);
          this.socket.off("close", done);
          if (this.socket.destroyed)
            reject(Object.assign(new Error("UDT connection closed"), { code: "UDT_ECONNLOST" }));
          else resolve();
        };
        this.socket.once("drain", done);
        this.socket.once("close", done);
      }
    });
  }

  sendHeader(header: UdtRequest): Promise<void> {
    return this.write(encodeUdtHeader(header));
  }

  async readResponse(): Promise<UdtResponse> {
    const h = await this.reader.header(ZUdtResponse);
    if (h === null)
      throw Object.assign(new Error("the node closed the UDT connection without answering"), { code: "UDT_ECONNLOST" });
    return h;
  }
}

export interface UdtPoolOptions {
  tuning?: UdtOptions;
  connectTimeoutMs?: number;
  /** Idle connections kept per node. */
  maxIdlePerPeer?: number;
  /** Idle connections are closed after this long (the node closes them after 60 s). */
  idleMs?: number;
}

/**
 * Idle UDT connections per node address. A request takes one (or opens one), and gives it
 * back only after a complete, successful exchange; anything else destroys it.
 */
export class UdtPool {
  private readonly idle = new Map<string, UdtConnection[]>();
  private readonly tuning: UdtOptions;
  private readonly connectTimeoutMs: number;
  private readonly maxIdle: number;
  private readonly idleMs: number;
  private closed = false;

  constructor(opts: UdtPoolOptions = {}) {
    this.tuning = opts.tuning ?? UDT_WAN_TUNING;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.maxIdle = opts.maxIdlePerPeer ?? 16;
    this.idleMs = opts.idleMs ?? 30_000;
  }

  async acquire(address: string, opts: { fresh?: boolean; signal?: AbortSignal } = {}): Promise<UdtConnection> {
    if (this.closed) throw new Error("UDT pool is closed");
    if (!opts.fresh) {
      const list = this.idle.get(address);
      while (list && list.length > 0) {
        const c = list.pop()!;
        if (c.idleTimer) clearTimeout(c.idleTimer);
        c.idleTimer = null;
        if (c.alive) {
          c.socket.ref();
          return c;
        }
        c.socket.destroy();
      }
    }
    const { host, port } = parseUdtAddress(address);
    const socket = await connect({
      host,
      port,
      timeoutMs: this.connectTimeoutMs,
      ...this.tuning,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    return new UdtConnection(address, socket);
  }

  release(c: UdtConnection, reusable: boolean): void {
    if (!reusable || this.closed || !c.alive) {
      c.socket.destroy();
      return;
    }
    const list = this.idle.get(c.address) ?? [];
    if (list.length >= this.maxIdle) {
      c.socket.destroy();
      return;
    }
    c.reused = true;
    // An idle pooled connection must not keep the process alive.
    c.socket.unref();
    c.idleTimer = setTimeout(() => {
      const at = list.indexOf(c);
      if (at !== -1) list.splice(at, 1);
      c.socket.destroy();
    }, this.idleMs);
    c.idleTimer.unref();
    list.push(c);
    this.idle.set(c.address, list);
  }

  close(): void {
    this.closed = true;
    for (const list of this.idle.values()) {
      for (const c of list.splice(0)) {
        if (c.idleTimer) clearTimeout(c.idleTimer);
        c.socket.destroy();
      }
    }
  }
}
