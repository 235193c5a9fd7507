// The target side of the framed chunk stream (POST /replicate/read, see
// @cumulus/protocol/chunk-stream): one request, one connection, the batch's chunks back to
// back. A minimal reader over net.Socket `onread`: every read lands where its bytes belong
// (a frame's prefix, its header, or straight into the chunk's reused buffer), so a chunk
// costs no allocation and no copy on the way in.
import net from "node:net";
import {
  CHUNK_STREAM_PATH,
  FRAME_PREFIX_BYTES,
  MAX_FRAME_HEADER_BYTES,
  decodeFrameHeader,
  decodeFramePrefix,
} from "@cumulus/protocol/chunk-stream";
import { AppError } from "@cumulus/protocol/errors";

const HEAD_MAX = 16 * 1024;
const MAX_ERROR_BODY = 64 * 1024;
/** Chunks of one stream held at once: two being stored while the next arrives. */
const BUFFERS_PER_STREAM = 3;

export interface StreamItem {
  chunk: string;
  size: number;
}

export interface StreamHandlers {
  /**
   * Chunk `k` of the request arrived whole, unverified. `data` stays valid until the
   * returned promise settles; the next chunk's bytes keep arriving meanwhile.
   */
  onChunk(k: number, data: Uint8Array): Promise<void>;
  /** The source could not send chunk `k` (an error frame). */
  onError(k: number, err: AppError): void;
}

export interface BufferPool {
  take(): Buffer;
  give(buf: Buffer): void;
}

/** The AppError a source's error answer (`status`, JSON `body`) stands for, prefixed with `where`. */
export function answerError(where: string, body: Uint8Array, status: number): AppError {
  let json: unknown = null;
  try {
    json = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8"));
  } catch {
    // the status says enough
  }
  const err = AppError.fromBody(json, status);
  return new AppError(err.code, `${where}: ${err.message}`);
}

type State = "head" | "error-body" | "prefix" | "header" | "data" | "done";

/**
 * Streams `items` from `url` (an http: storage node). Resolves once the source's end frame
 * arrived and every onChunk settled; rejects (after every onChunk settled) with an AppError
 * when the stream broke or broke the protocol: the chunks not handed to onChunk or onError
 * by then never arrived and must be fetched another way.
 */
export function fetchChunkStream(
  base: string,
  where: string,
  items: readonly StreamItem[],
  readToken: string,
  opts: { signal: AbortSignal; idleTimeoutMs: number; buffers: BufferPool },
  h: StreamHandlers,
): Promise<void> {
  const url = new URL(CHUNK_STREAM_PATH.slice(1), base.endsWith("/") ? base : `${base}/`);
  if (url.protocol !== "http:") throw new Error(`the chunk stream reader speaks plain HTTP only, not ${url.protocol}`);
  return new StreamReader(url, where, items, readToken, opts, h).done;
}

class StreamReader {
  readonly done: Promise<void>;
  private resolve!: () => void;
  private reject!: (e: AppError) => void;
  private readonly where: string;
  private readonly items: readonly StreamItem[];
  private readonly h: StreamHandlers;
  private readonly pool: BufferPool;
  private readonly sock: net.Socket;
  private readonly signal: AbortSignal;
  private readonly onAbort = () => this.sock.destroy(new Error("copy deadline reached"));

  private state: State = "head";
  private readonly head = Buffer.allocUnsafe(HEAD_MAX);
  private readonly prefix = Buffer.allocUnsafe(FRAME_PREFIX_BYTES);
  private readonly header = Buffer.allocUnsafe(MAX_FRAME_HEADER_BYTES);
  /** Where a read goes while no chunk buffer is free. */
  private readonly scratch = Buffer.allocUnsafe(64 * 1024);
  private errorBody: Buffer[] = [];
  private errorBytes = 0;
  private status = 0;
  /** Where the current read goes, how much of it is wanted and how much arrived. */
  private dest: Uint8Array = this.head;
  private want = HEAD_MAX;
  private got = 0;
  private dataBytes = 0;
  /** The next request item a frame must answer. */
  private k = 0;
  private free: Buffer[] = [];
  private owned = 0;
  /** The buffer the current chunk is received into (not reusable after a failure). */
  private receiving: Buffer | null = null;
  private waitingForBuffer = false;
  /** Bytes of the head's read still to be placed (see feed). */
  private pending: Buffer | null = null;
  private inFlight = new Set<Promise<void>>();
  private failure: AppError | null = null;
  private settled = false;

  constructor(
    url: URL,
    where: string,
    items: readonly StreamItem[],
    readToken: string,
    opts: { signal: AbortSignal; idleTimeoutMs: number; buffers: BufferPool },
    h: StreamHandlers,
  ) {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.where = where;
    this.items = items;
    this.h = h;
    this.pool = opts.buffers;
    this.signal = opts.signal;
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    this.sock = net.connect({
      host,
      port: url.port ? Number(url.port) : 80,
      noDelay: true,
      onread: {
        // Asked after every read for the next one: exactly the bytes the current part still
        // needs (the response head aside, whose end is not known), so nothing has to be
        // copied. The answer is kept until the next read, even across a pause: a read that
        // lands anywhere but where its part now goes (see onRead) is copied there.
        buffer: () => (this.waitingForBuffer ? this.scratch : this.dest.subarray(this.got, this.want)),
        callback: (n: number, buf: Uint8Array) => {
          this.onRead(n, buf);
          // false stops reading at once: both chunk buffers are busy.
          return !this.waitingForBuffer;
        },
      },
    });
    this.sock.setTimeout(opts.idleTimeoutMs, () =>
      this.sock.destroy(new Error(`no data for ${opts.idleTimeoutMs} ms`)),
    );
    this.sock.on("error", (err) => this.fail(new AppError("UNAVAILABLE", `${where}: chunk stream: ${err.message}`)));
    this.sock.on("end", () => this.onEnd());
    this.sock.on("close", () => {
      if (this.state === "done") this.maybeSettle();
      else {
        this.fail(
          new AppError(
            "UNAVAILABLE",
            `${where}: the chunk stream was cut after ${this.k} of ${this.items.length} chunk(s)`,
          ),
        );
      }
    });
    if (this.signal.aborted) this.onAbort();
    else this.signal.addEventListener("abort", this.onAbort, { once: true });
    const body = JSON.stringify({ chunks: items.map((i) => ({ chunk: i.chunk, size: i.size })) });
    // HTTP/1.0: the answer is the frames up to the end of the connection, no chunked coding.
    this.sock.write(
      `POST ${url.pathname} HTTP/1.0\r\nhost: ${url.host}\r\nauthorization: Bearer ${readToken}\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      "latin1",
    );
  }

  private onRead(n: number, buf: Uint8Array): void {
    if (n <= 0 || this.failure) return;
    if (this.state === "head") return this.onHead(n);
    if (this.state === "error-body") {
      this.errorBytes += n;
      if (this.errorBytes <= MAX_ERROR_BODY) this.errorBody.push(Buffer.from(buf.subarray(0, n)));
      return;
    }
    // Nothing may follow the end frame; every chunk is in, so the stream just ends here.
    if (this.state === "done") return void this.sock.destroy();
    const inPlace =
      !this.waitingForBuffer && buf.buffer === this.dest.buffer && buf.byteOffset === this.dest.byteOffset + this.got;
    if (!inPlace) return this.feed(buf.subarray(0, n));
    this.got += n;
    if (this.got === this.want) this.step();
  }

  private onHead(n: number): void {
    this.got += n;
    const end = this.head.subarray(0, this.got).indexOf("\r\n\r\n", Math.max(0, this.got - n - 3), "latin1");
    if (end < 0) {
      if (this.got >= HEAD_MAX) this.protocol(`response head over ${HEAD_MAX} bytes`);
      return;
    }
    const lines = this.head.toString("latin1", 0, end).split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
    if (!m) return this.protocol("the answer is not HTTP");
    this.status = Number(m[1]);
    const rest = this.head.subarray(end + 4, this.got);
    if (this.status !== 200) {
      this.state = "error-body";
      this.dest = Buffer.allocUnsafe(MAX_ERROR_BODY);
      this.got = 0;
      this.want = MAX_ERROR_BODY;
      if (rest.length > 0) this.errorBody.push(Buffer.from(rest));
      this.errorBytes = rest.length;
      // Error answers are small and read through a scratch buffer of their own.
      return;
    }
    this.expectPrefix();
    this.feed(Buffer.from(rest));
  }

  /**
   * Bytes that arrived in the response head's read, before their part was known: copied in.
   * What cannot be placed yet (both chunk buffers busy) waits, with the socket paused.
   */
  private feed(bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.length && !this.failure) {
      if (this.state === "done") return void this.sock.destroy();
      if (this.waitingForBuffer) {
        const rest = bytes.subarray(off);
        this.pending = this.pending ? Buffer.concat([this.pending, rest]) : Buffer.from(rest);
        return;
      }
      const take = Math.min(bytes.length - off, this.want - this.got);
      this.dest.set(bytes.subarray(off, off + take), this.got);
      this.got += take;
      off += take;
      if (this.got === this.want) this.step();
    }
  }

  private expectPrefix(): void {
    this.state = "prefix";
    this.dest = this.prefix;
    this.got = 0;
    this.want = FRAME_PREFIX_BYTES;
  }

  /** The current part is complete: act on it and set up the next. */
  private step(): void {
    try {
      if (this.state === "prefix") {
        const { headerBytes, dataBytes } = decodeFramePrefix(this.prefix);
        this.dataBytes = dataBytes;
        this.state = "header";
        this.dest = this.header;
        this.got = 0;
        this.want = headerBytes;
        return;
      }
      if (this.state === "header") {
        const f = decodeFrameHeader(this.header.subarray(0, this.want), this.dataBytes);
        if (f.t === "end") {
          if (this.k !== this.items.length || f.chunks !== this.items.length) {
            throw new Error(`end frame after ${this.k} of ${this.items.length} chunk(s)`);
          }
          // Every chunk is in: the connection has nothing more to give. Waiting for the
          // source to close it cost a whole idle timeout whenever it kept it open.
          this.state = "done";
          this.sock.destroy();
          return;
        }
        const it = this.items[this.k];
        if (!it) throw new Error(`a frame for chunk ${f.chunk} after the last requested chunk`);
        if (f.chunk !== it.chunk) throw new Error(`a frame for chunk ${f.chunk} where ${it.chunk} was due`);
        if (f.t === "error") {
          this.k++;
          this.h.onError(this.k - 1, new AppError(f.code, `${this.where}: ${f.message}`));
          this.expectPrefix();
          return;
        }
        if (f.size !== it.size) throw new Error(`chunk ${f.chunk} sent with ${f.size} bytes, expected ${it.size}`);
        this.state = "data";
        this.got = 0;
        this.want = f.size;
        const buf = this.takeBuffer();
        if (buf === null) {
          // Both buffers are still being stored: reading stops (the read callback says so)
          // until one is back.
          this.waitingForBuffer = true;
          return;
        }
        this.receiving = buf;
        this.dest = buf;
        return;
      }
      if (this.state === "data") this.delivered();
    } catch (err) {
      this.protocol(err instanceof Error ? err.message : String(err));
    }
  }

  private takeBuffer(): Buffer | null {
    const b = this.free.pop();
    if (b) return b;
    if (this.owned >= BUFFERS_PER_STREAM) return null;
    this.owned++;
    return this.pool.take();
  }

  private delivered(): void {
    const buf = this.receiving!;
    this.receiving = null;
    const k = this.k++;
    const p: Promise<void> = this.h
      .onChunk(k, buf.subarray(0, this.want))
      .catch(() => {})
      .then(() => {
        this.inFlight.delete(p);
        this.giveBack(buf);
        this.maybeSettle();
      });
    this.inFlight.add(p);
    this.expectPrefix();
  }

  private giveBack(buf: Buffer): void {
    if (!this.waitingForBuffer || this.failure) {
      this.free.push(buf);
      return;
    }
    this.waitingForBuffer = false;
    this.receiving = buf;
    this.dest = buf;
    this.got = 0;
    this.want = this.items[this.k]!.size;
    const pending = this.pending;
    this.pending = null;
    if (pending) this.feed(pending);
    if (!this.waitingForBuffer && !this.failure && this.state !== "done") this.sock.resume();
  }

  private onEnd(): void {
    if (this.state === "error-body") {
      return this.fail(answerError(this.where, Buffer.concat(this.errorBody), this.status));
    }
    if (this.state !== "done") {
      return this.fail(
        new AppError(
          "UNAVAILABLE",
          `${this.where}: the chunk stream ended after ${this.k} of ${this.items.length} chunk(s) without its end frame`,
        ),
      );
    }
    this.sock.destroy();
    this.maybeSettle();
  }

  private protocol(why: string): void {
    this.fail(new AppError("BAD_REQUEST", `${this.where}: bad chunk stream: ${why}`));
  }

  private fail(err: AppError): void {
    // Once the end frame is in, every chunk has been handed over: what follows is moot.
    if (this.failure || this.settled || this.state === "done") return;
    this.failure = err;
    this.sock.destroy();
    this.maybeSettle();
  }

  private maybeSettle(): void {
    if (this.settled || this.inFlight.size > 0) return;
    if (this.failure) {
      this.settled = true;
      this.finish();
      this.reject(this.failure);
      return;
    }
    if (this.state === "done" && this.sock.destroyed) {
      this.settled = true;
      this.finish();
      this.resolve();
    }
  }

  private finish(): void {
    this.signal.removeEventListener("abort", this.onAbort);
    // Buffers a dying connection may still have been reading into are not reused.
    for (const b of this.free.splice(0)) this.pool.give(b);
  }
}
