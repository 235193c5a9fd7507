// Typed, validated API over the UDT addon: listen() for a server of accepted connections,
// connect() for an outgoing one; every connection is a Node Duplex stream.
import { lookup } from "node:dns/promises";
import { EventEmitter } from "node:events";
import { isIP } from "node:net";
import { Duplex } from "node:stream";

import {
  type Binding,
  ConnEvent,
  ListenerEvent,
  type NativeAddress,
  type NativeConnection,
  type NativeListener,
  type NativeOptions,
  type NativeStats,
  isUdtAvailable,
  loadBinding,
} from "./binding.ts";

export { isUdtAvailable };

/** Tuning knobs passed to UDT before the socket is bound or connected. */
export interface UdtOptions {
  /** UDT_SNDBUF: bytes UDT may hold unacknowledged on the sending side. */
  sendBufferSize?: number;
  /** UDT_RCVBUF: bytes UDT buffers on the receiving side before the flow window closes. */
  receiveBufferSize?: number;
  /** UDP_SNDBUF of the underlying UDP socket, in bytes. */
  udpSendBufferSize?: number;
  /** UDP_RCVBUF of the underlying UDP socket, in bytes. */
  udpReceiveBufferSize?: number;
  /** UDT_MAXBW: rate cap in bytes per second; omit (or Infinity) for no cap. */
  maxBandwidth?: number;
  /** UDT_MSS: packet size in bytes including IP/UDP headers (UDT's default is 1500). */
  mss?: number;
  /**
   * Replaces UDT's own congestion control with a rate-based one for a link whose rate is
   * known (a leased line between sites): packets are paced at this many Mbit/s (IP level,
   * 10^6 bit/s), shared by the busy connections to the same peer host, and random loss does
   * not slow them down. Set it a little below the link rate. Without it (the default) UDT's
   * native AIMD controller runs, which is the right choice on a shared or unknown path.
   */
  rateMbit?: number;
  /**
   * With `rateMbit`: the loss rate (0..1, default 0.1) above which the controller takes an
   * interval's losses as congestion and cuts its rate by 1/8 (down to 1/16 of `rateMbit`),
   * recovering once losses fall below half of it. Keep it well above the link's random loss.
   */
  rateLossThreshold?: number;
}

export interface ListenOptions extends UdtOptions {
  /** IP address to bind; "localhost" means 127.0.0.1. Default "0.0.0.0". */
  host?: string;
  /** UDP port; 0 (default) picks a free one. */
  port?: number;
  /** Connections UDT completes before they are accepted. Default 1024. */
  backlog?: number;
  /** Keep the writable side open after the peer ended its stream. Default false. */
  allowHalfOpen?: boolean;
}

export interface ConnectOptions extends UdtOptions {
  host: string;
  port: number;
  /** Give up after this many milliseconds (DNS lookup included). Default 10000. */
  timeoutMs?: number;
  /** Keep the writable side open after the peer ended its stream. Default false. */
  allowHalfOpen?: boolean;
  signal?: AbortSignal;
}

export interface UdtAddress {
  address: string;
  port: number;
  family: "IPv4" | "IPv6";
}

/** A subset of UDT's perfmon counters (UDT::perfmon, not cleared between calls). */
export type UdtStats = NativeStats;

/** Errors raised by UDT carry its code: `code` is e.g. "UDT_ECONNLOST", `udtCode` 2001. */
export interface UdtError extends Error {
  code: string;
  udtCode: number;
}

export function isUdtError(err: unknown): err is UdtError {
  return (
    err instanceof Error &&
    typeof (err as Partial<UdtError>).code === "string" &&
    typeof (err as Partial<UdtError>).udtCode === "number"
  );
}

const MiB = 1024 * 1024;
const INT32_MAX = 2 ** 31 - 1;
// The stream buffers a couple of the 1 MiB blocks the addon delivers; more would only add
// memory, fewer would stall the reader thread between blocks.
const READABLE_HIGH_WATER_MARK = 2 * MiB;
const WRITABLE_HIGH_WATER_MARK = 2 * MiB;
const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_BACKLOG = 1024;

// ---------------------------------------------------------------------------------------
// Validation

const TUNING_KEYS = [
  "sendBufferSize",
  "receiveBufferSize",
  "udpSendBufferSize",
  "udpReceiveBufferSize",
  "maxBandwidth",
  "mss",
  "rateMbit",
  "rateLossThreshold",
] as const;
const LISTEN_KEYS = new Set<string>([...TUNING_KEYS, "host", "port", "backlog", "allowHalfOpen"]);
const CONNECT_KEYS = new Set<string>([...TUNING_KEYS, "host", "port", "timeoutMs", "allowHalfOpen", "signal"]);

function checkObject(fn: string, value: unknown, allowed: Set<string>): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError(`${fn}: options must be an object`);
  }
  for (const key of Object.keys(value)) {
    if (!allowed.has(key)) {
      throw new TypeError(`${fn}: unknown option "${key}" (allowed: ${[...allowed].join(", ")})`);
    }
  }
  return value as Record<string, unknown>;
}

function checkInt(fn: string, name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(`${fn}: ${name} must be an integer, got ${String(value)}`);
  }
  if (value < min || value > max) {
    throw new RangeError(`${fn}: ${name} must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

function checkNumber(fn: string, name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isFinite(value)) {
    throw new TypeError(`${fn}: ${name} must be a finite number, got ${String(value)}`);
  }
  if (value < min || value > max) {
    throw new RangeError(`${fn}: ${name} must be between ${min} and ${max}, got ${value}`);
  }
  return value;
}

function nativeOptions(fn: string, o: Record<string, unknown>): NativeOptions {
  const out: NativeOptions = {};
  // Below one UDT packet the byte-to-packet conversion rounds to zero and sends block.
  if (o.sendBufferSize !== undefined)
    out.sendBufferSize = checkInt(fn, "sendBufferSize", o.sendBufferSize, 64 * 1024, INT32_MAX);
  if (o.receiveBufferSize !== undefined) {
    out.receiveBufferSize = checkInt(fn, "receiveBufferSize", o.receiveBufferSize, 64 * 1024, INT32_MAX);
  }
  if (o.udpSendBufferSize !== undefined) {
    out.udpSendBufferSize = checkInt(fn, "udpSendBufferSize", o.udpSendBufferSize, 1024, INT32_MAX);
  }
  if (o.udpReceiveBufferSize !== undefined) {
    out.udpReceiveBufferSize = checkInt(fn, "udpReceiveBufferSize", o.udpReceiveBufferSize, 1024, INT32_MAX);
  }
  // 76 = 28 bytes of IP/UDP header plus UDT's 48-byte handshake.
  if (o.mss !== undefined) out.mss = checkInt(fn, "mss", o.mss, 76, 65535);
  if (o.rateMbit !== undefined) out.rateMbit = checkNumber(fn, "rateMbit", o.rateMbit, 0.001, 1e6);
  if (o.rateLossThreshold !== undefined) {
    if (o.rateMbit === undefined) throw new TypeError(`${fn}: rateLossThreshold needs rateMbit`);
    out.rateLossThreshold = checkNumber(fn, "rateLossThreshold", o.rateLossThreshold, 0.001, 1);
  }
  if (o.maxBandwidth !== undefined && o.maxBandwidth !== Infinity) {
    out.maxBandwidth = checkInt(fn, "maxBandwidth", o.maxBandwidth, 1, Number.MAX_SAFE_INTEGER);
  }
  return out;
}

function checkBool(fn: string, name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") throw new TypeError(`${fn}: ${name} must be a boolean`);
  return value;
}

function checkHost(fn: string, value: unknown): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new TypeError(`${fn}: host must be a non-empty string`);
  }
  return value;
}

// ---------------------------------------------------------------------------------------
// Sockets

const INTERNAL = Symbol("UdtSocket.internal");

function destroyedError(): Error {
  return Object.assign(new Error("UDT socket was destroyed before the write completed"), {
    code: "ERR_STREAM_DESTROYED",
  });
}

/**
 * A UDT connection as a Duplex byte stream.
 *
 * - Reading: the addon receives only while the stream wants data; once the readable buffer
 *   is full it stops, UDT's receive window fills and the sender is throttled.
 * - Writing: a write's callback runs once UDT has accepted all its bytes.
 * - end(): sends an end-of-stream marker; "finish" follows once the peer acknowledged
 *   everything (or closed after ending its own side). The read side stays open
 *   (half-close); the UDT socket closes once both sides have ended.
 * - destroy(): closes at once, discarding unsent data; the peer sees UDT_ECONNLOST, as it
 *   does when the connection breaks for any other reason before the stream was ended.
 */
export class UdtSocket extends Duplex {
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  readonly localFamily: string | undefined;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly remoteFamily: string | undefined;

  #native: NativeConnection;
  #reading = false;
  #nativeClosed = false;
  #pendingWrites: Array<{ chunks: Buffer[]; cb: (err?: Error | null) => void }> = [];
  #finalCb: ((err?: Error | null) => void) | null = null;
  #destroyCb: (() => void) | null = null;

  /** @internal Sockets come from connect() or a UdtServer. */
  constructor(token: symbol, binding: Binding, handle: number, accepted: boolean, allowHalfOpen: boolean) {
    if (token !== INTERNAL) throw new TypeError("UdtSocket is created by connect() or listen(), not directly");
    super({
      allowHalfOpen,
      readableHighWaterMark: READABLE_HIGH_WATER_MARK,
      writableHighWaterMark: WRITABLE_HIGH_WATER_MARK,
    });
    this.#native = new binding.UdtConnection(handle, accepted, (kind, arg) => this.#onNative(kind, arg));
    const local = this.#native.localAddress();
    const remote = this.#native.remoteAddress();
    this.localAddress = local?.address;
    this.localPort = local?.port;
    this.localFamily = local?.family;
    this.remoteAddress = remote?.address;
    this.remotePort = remote?.port;
    this.remoteFamily = remote?.family;
  }

  address(): UdtAddress | Record<string, never> {
    return this.localAddress === undefined
      ? {}
      : { address: this.localAddress, port: this.localPort ?? 0, family: this.localFamily as UdtAddress["family"] };
  }

  /** UDT's counters for this connection, or null once it is closed. */
  getStats(): UdtStats | null {
    return this.#nativeClosed ? null : this.#native.stats();
  }

  /** Lets the process exit while this connection is open. */
  unref(): this {
    if (!this.#nativeClosed) this.#native.unref();
    return this;
  }

  ref(): this {
    if (!this.#nativeClosed) this.#native.ref();
    return this;
  }

  override _read(): void {
    if (!this.#reading && !this.#nativeClosed) {
      this.#reading = true;
      this.#native.readStart();
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#send([chunk], cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    this.#send(
      chunks.map((c) => c.chunk),
      cb,
    );
  }

  #send(chunks: Buffer[], cb: (err?: Error | null) => void): void {
    if (this.#nativeClosed) {
      cb(destroyedError());
      return;
    }
    // The native writer reads straight from these Buffers; keeping them here keeps them
    // alive until UDT has copied them.
    this.#pendingWrites.push({ chunks, cb });
    this.#native.write(chunks);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.#nativeClosed) {
      cb(destroyedError());
      return;
    }
    this.#finalCb = cb;
    this.#native.end();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.#nativeClosed) {
      cb(err);
      return;
    }
    this.#destroyCb = () => cb(err);
    this.#native.destroy();
  }

  #onNative(kind: number, arg: unknown): void {
    switch (kind) {
      case ConnEvent.data:
        // Blocks already on their way when destroy() ran are dropped.
        if (this.destroyed) break;
        if (!this.push(arg as Buffer) && this.#reading) {
          this.#reading = false;
          this.#native.readStop();
        }
        break;
      case ConnEvent.end:
        if (!this.destroyed) this.push(null);
        break;
      case ConnEvent.written:
        this.#pendingWrites.shift()?.cb((arg as Error | undefined) ?? null);
        break;
      case ConnEvent.finished: {
        const cb = this.#finalCb;
        this.#finalCb = null;
        cb?.((arg as Error | undefined) ?? null);
        break;
      }
      case ConnEvent.error:
        this.destroy(arg as Error);
        break;
      case ConnEvent.close: {
        // Native threads are joined and the UDT socket is closed.
        this.#nativeClosed = true;
        for (const w of this.#pendingWrites.splice(0)) w.cb(destroyedError());
        const final = this.#finalCb;
        this.#finalCb = null;
        final?.(destroyedError());
        const destroyCb = this.#destroyCb;
        this.#destroyCb = null;
        if (destroyCb) destroyCb();
        else if (!this.destroyed) this.destroy();
        break;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// Server

/**
 * Accepts UDT connections. Emits "connection" (UdtSocket), "error" and "close"; also an
 * async iterable of accepted sockets that ends when the server closes. Closing the server
 * stops accepting; connections already accepted stay open.
 */
export class UdtServer extends EventEmitter implements AsyncIterable<UdtSocket> {
  #binding: Binding;
  #native: NativeListener;
  #address: UdtAddress;
  #allowHalfOpen: boolean;
  #closing = false;
  #closed = false;
  #closedPromise: Promise<void>;
  #resolveClosed!: () => void;

  /** @internal Use listen(). */
  constructor(
    token: symbol,
    binding: Binding,
    ip: string,
    port: number,
    backlog: number,
    options: NativeOptions,
    allowHalfOpen: boolean,
  ) {
    if (token !== INTERNAL) throw new TypeError("UdtServer is created by listen(), not directly");
    super();
    this.#binding = binding;
    this.#allowHalfOpen = allowHalfOpen;
    this.#closedPromise = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    this.#native = new binding.UdtListener(ip, port, backlog, options, (kind, a) => this.#onNative(kind, a));
    const addr = this.#native.address() as NativeAddress;
    this.#address = { ...addr };
  }

  address(): UdtAddress {
    return { ...this.#address };
  }

  get listening(): boolean {
    return !this.#closing;
  }

  /**
   * Stops accepting connections; resolves once the accept thread has exited. UDT releases
   * the UDP port a few seconds later, and only after every accepted connection is closed.
   */
  close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#native.close();
    }
    return this.#closedPromise;
  }

  unref(): this {
    if (!this.#closed) this.#native.unref();
    return this;
  }

  ref(): this {
    if (!this.#closed) this.#native.ref();
    return this;
  }

  #onNative(kind: number, a: unknown): void {
    switch (kind) {
      case ListenerEvent.connection: {
        const socket = new UdtSocket(INTERNAL, this.#binding, a as number, true, this.#allowHalfOpen);
        if (this.#closing) socket.destroy();
        else this.emit("connection", socket);
        break;
      }
      case ListenerEvent.error:
        this.emit("error", a as Error);
        break;
      case ListenerEvent.close:
        this.#closing = true;
        this.#closed = true;
        this.#resolveClosed();
        this.emit("close");
        break;
    }
  }

  /** Yields accepted sockets until the server closes. Leaving the loop does not close it. */
  [Symbol.asyncIterator](): AsyncIterableIterator<UdtSocket> {
    const queue: UdtSocket[] = [];
    const waiters: Array<{ resolve: (r: IteratorResult<UdtSocket>) => void; reject: (e: Error) => void }> = [];
    let done = this.#closed;
    let failure: Error | null = null;
    const onConnection = (socket: UdtSocket) => {
      const waiter = waiters.shift();
      if (waiter) waiter.resolve({ value: socket, done: false });
      else queue.push(socket);
    };
    const onClose = () => {
      done = true;
      detach();
      for (const w of waiters.splice(0)) w.resolve({ value: undefined, done: true });
    };
    const onError = (err: Error) => {
      failure = err;
      detach();
      for (const w of waiters.splice(0)) w.reject(err);
    };
    const detach = () => {
      this.off("connection", onConnection);
      this.off("close", onClose);
      this.off("error", onError);
    };
    if (!done) {
      this.on("connection", onConnection);
      this.on("close", onClose);
      this.on("error", onError);
    }
    const iterator: AsyncIterableIterator<UdtSocket> = {
      next: () => {
        const socket = queue.shift();
        if (socket) return Promise.resolve({ value: socket, done: false });
        if (failure) return Promise.reject(failure);
        if (done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
      },
      return: () => {
        done = true;
        detach();
        // Accepted but never handed out: nobody else will close them.
        for (const s of queue.splice(0)) s.destroy();
        for (const w of waiters.splice(0)) w.resolve({ value: undefined, done: true });
        return Promise.resolve({ value: undefined, done: true });
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }
}

// ---------------------------------------------------------------------------------------
// Entry points

function listenHost(fn: string, host: string): string {
  if (host === "localhost") return "127.0.0.1";
  if (isIP(host) === 0) throw new TypeError(`${fn}: host must be an IP address or "localhost", got "${host}"`);
  return host;
}

/** Binds a UDP port and starts accepting UDT connections. Throws a UdtError if UDT refuses. */
export function listen(options: ListenOptions = {}): UdtServer {
  const fn = "listen";
  const o = checkObject(fn, options, LISTEN_KEYS);
  const ip = listenHost(fn, o.host === undefined ? "0.0.0.0" : checkHost(fn, o.host));
  const port = o.port === undefined ? 0 : checkInt(fn, "port", o.port, 0, 65535);
  const backlog = o.backlog === undefined ? DEFAULT_BACKLOG : checkInt(fn, "backlog", o.backlog, 1, 65535);
  const allowHalfOpen = checkBool(fn, "allowHalfOpen", o.allowHalfOpen, false);
  const native = nativeOptions(fn, o);
  return new UdtServer(INTERNAL, loadBinding(), ip, port, backlog, native, allowHalfOpen);
}

function timeoutError(ip: string, port: number, timeoutMs: number): UdtError {
  // Same code as UDT's own handshake timeout, whichever side gives up first.
  return Object.assign(
    new Error(
      `connect ${ip}:${port}: UDT_ENOSERVER: Connection setup failure: connection time out. (no answer within ${timeoutMs} ms)`,
    ),
    { code: "UDT_ENOSERVER", udtCode: 1001 },
  );
}

function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error("connect aborted", { cause: signal.reason }), {
    name: "AbortError",
    code: "ABORT_ERR",
  });
}

async function resolveHost(host: string): Promise<string> {
  if (host === "localhost") return "127.0.0.1";
  if (isIP(host) !== 0) return host;
  const { address } = await lookup(host);
  return address;
}

/** Opens a UDT connection; rejects with a UdtError (UDT_ENOSERVER on timeout). */
export async function connect(options: ConnectOptions): Promise<UdtSocket> {
  const fn = "connect";
  const o = checkObject(fn, options, CONNECT_KEYS);
  const host = checkHost(fn, o.host);
  const port = checkInt(fn, "port", o.port, 1, 65535);
  const timeoutMs =
    o.timeoutMs === undefined ? DEFAULT_TIMEOUT_MS : checkInt(fn, "timeoutMs", o.timeoutMs, 1, INT32_MAX);
  const allowHalfOpen = checkBool(fn, "allowHalfOpen", o.allowHalfOpen, false);
  const signal = o.signal as AbortSignal | undefined;
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new TypeError(`${fn}: signal must be an AbortSignal`);
  const native = nativeOptions(fn, o);
  const binding = loadBinding();
  if (signal?.aborted) throw abortError(signal);

  const started = performance.now();
  const ip = await resolveHost(host);
  const remaining = Math.ceil(timeoutMs - (performance.now() - started));
  if (remaining <= 0) throw timeoutError(ip, port, timeoutMs);
  if (signal?.aborted) throw abortError(signal);

  return new Promise<UdtSocket>((resolve, reject) => {
    let settled = false;
    const giveUp = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      request.abandon();
      reject(err);
    };
    const onAbort = () => giveUp(abortError(signal as AbortSignal));
    const request = new binding.UdtConnectRequest(ip, port, remaining, native, (err, handle) => {
      if (settled) {
        // Connected after the caller gave up.
        if (!err && handle !== undefined) binding.closeSocket(handle);
        return;
      }
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      if (err) reject(err);
      else resolve(new UdtSocket(INTERNAL, binding, handle as number, false, allowHalfOpen));
    });
    const timer = setTimeout(() => giveUp(timeoutError(ip, port, timeoutMs)), remaining);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
