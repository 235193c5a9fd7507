// Node-only: chunk GETs over plain keep-alive TCP connections with a minimal HTTP/1.1
// response reader that receives the body straight into the caller's buffer (net.Socket
// `onread` with a buffer per read). node:http hands every 64 KiB socket read over as a
// freshly allocated Buffer through the parser and stream machinery; for a download that
// was about 60% of the client's CPU (garbage collection, events, copies), more than the
// hash it must compute anyway (docs/benchmarks.md). Only what storage
// nodes send is understood: a status line, headers and a Content-Length body; anything
// else (chunked encoding, no length, an oversized head) is refused as a protocol error.
import net from "node:net";

const HEAD_MAX = 64 * 1024;
const SCRATCH = 64 * 1024;

export interface RawResponse {
  status: number;
  statusText: string;
  /** The body: a view of the `into` buffer for a 2xx answer, else a small buffer of its own. */
  body: Uint8Array;
}

/** A failure below HTTP: how many response bytes had arrived tells what it means. */
export class RawGetError extends Error {
  readonly received: number;
  /** On a reused idle connection with no answer at all: the node had closed it; retry. */
  readonly stale: boolean;
  constructor(message: string, cause: unknown, received: number, stale: boolean) {
    super(message, { cause });
    this.received = received;
    this.stale = stale;
  }
}

/** The answer is not what a storage node sends (its length in particular). */
export class RawProtocolError extends Error {
  readonly kind: "too-long" | "too-short" | "no-length" | "bad-head";
  readonly length: number | null;
  constructor(kind: RawProtocolError["kind"], message: string, length: number | null = null) {
    super(message);
    this.kind = kind;
    this.length = length;
  }
}

interface Request {
  size: number;
  into: Uint8Array | undefined;
  maxOtherBody: number;
  resolve: (r: RawResponse) => void;
  reject: (e: unknown) => void;
}

type State = "idle" | "head" | "body";

class Conn {
  readonly sock: net.Socket;
  private readonly pool: OriginPool;
  private readonly scratch = Buffer.allocUnsafe(SCRATCH);
  private readonly head = Buffer.allocUnsafe(HEAD_MAX);
  private headLen = 0;
  private state: State = "idle";
  private req: Request | null = null;
  private dest: Uint8Array = this.scratch;
  private want = 0;
  private got = 0;
  private status = 0;
  private statusText = "";
  private received = 0;
  private reused = false;
  private keepAlive = true;
  dead = false;

  constructor(pool: OriginPool, host: string, port: number) {
    this.pool = pool;
    this.sock = net.connect({
      host,
      port,
      noDelay: true,
      onread: {
        // Asked again after every read: the next read lands right where the body goes on.
        buffer: () => (this.state === "body" ? this.dest.subarray(this.got, this.want) : this.scratch),
        callback: (n: number, buf: Uint8Array) => {
          this.onData(n, buf);
          return true;
        },
      },
    });
    this.sock.on("error", (err) => this.fail(err));
    this.sock.on("close", () => {
      this.dead = true;
      this.fail(new Error("connection closed"));
      this.pool.gone(this);
    });
    this.sock.on("end", () => {
      this.dead = true;
      this.sock.destroy();
    });
  }

  send(path: string, hostHeader: string, token: string, r: Request): void {
    this.req = r;
    this.state = "head";
    this.headLen = 0;
    this.received = 0;
    this.keepAlive = true;
    this.sock.ref();
    this.sock.write(
      `GET ${path} HTTP/1.1\r\nhost: ${hostHeader}\r\nauthorization: Bearer ${token}\r\nconnection: keep-alive\r\n\r\n`,
      "latin1",
    );
  }

  destroy(err: Error): void {
    this.sock.destroy(err);
  }

  private onData(n: number, buf: Uint8Array): void {
    if (n <= 0) return;
    this.received += n;
    if (this.state === "body") {
      this.got += n;
      if (this.got >= this.want) this.complete();
      return;
    }
    if (this.state !== "head") {
      // Bytes nobody asked for: the connection is out of step; drop it.
      this.dead = true;
      this.sock.destroy();
      return;
    }
    if (this.headLen + n > HEAD_MAX) {
      return this.protocol(new RawProtocolError("bad-head", `response head over ${HEAD_MAX} bytes`));
    }
    this.head.set(buf.subarray(0, n), this.headLen);
    const from = Math.max(0, this.headLen - 3);
    this.headLen += n;
    const end = this.head.subarray(0, this.headLen).indexOf("\r\n\r\n", from, "latin1");
    if (end < 0) return;
    this.parseHead(end);
  }

  private parseHead(end: number): void {
    const r = this.req!;
    const lines = this.head.toString("latin1", 0, end).split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] ?? "");
    if (!m) return this.protocol(new RawProtocolError("bad-head", "the answer is not HTTP/1.1"));
    this.status = Number(m[1]);
    this.statusText = m[2] ?? "";
    let length: number | null = null;
    let chunked = false;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const c = line.indexOf(":");
      if (c < 0) continue;
      const name = line.slice(0, c).trim().toLowerCase();
      const value = line.slice(c + 1).trim();
      if (name === "content-length") {
        if (!/^\d{1,15}$/.test(value)) return this.protocol(new RawProtocolError("bad-head", "bad Content-Length"));
        length = Number(value);
      } else if (name === "transfer-encoding") chunked = true;
      else if (name === "connection" && /close/i.test(value)) this.keepAlive = false;
    }
    if (length === null || chunked) {
      return this.protocol(new RawProtocolError("no-length", "the answer does not say how long its body is"));
    }
    const ok = this.status >= 200 && this.status < 300;
    if (ok && length > r.size) {
      return this.protocol(new RawProtocolError("too-long", `the body has ${length} bytes`, length));
    }
    if (ok && length < r.size) {
      return this.protocol(new RawProtocolError("too-short", `the body has ${length} bytes`, length));
    }
    if (!ok && length > r.maxOtherBody) {
      return this.protocol(new RawProtocolError("bad-head", `error body over ${r.maxOtherBody} bytes`));
    }
    this.dest = ok ? (r.into && r.into.length >= length ? r.into : new Uint8Array(length)) : new Uint8Array(length);
    this.want = length;
    const rest = this.headLen - (end + 4);
    if (rest > length) {
      return this.protocol(new RawProtocolError("too-long", "more bytes than the body's length", length));
    }
    this.dest.set(this.head.subarray(end + 4, this.headLen), 0);
    this.got = rest;
    this.state = "body";
    if (this.got >= this.want) this.complete();
  }

  private complete(): void {
    const r = this.req!;
    this.req = null;
    this.state = "idle";
    const body = this.dest.subarray(0, this.want);
    this.dest = this.scratch;
    this.reused = true;
    this.pool.release(this, this.keepAlive);
    r.resolve({ status: this.status, statusText: this.statusText, body });
  }

  private protocol(err: RawProtocolError): void {
    const r = this.req;
    this.req = null;
    this.state = "idle";
    this.dead = true;
    this.sock.destroy();
    r?.reject(err);
  }

  private fail(err: unknown): void {
    const r = this.req;
    if (!r) return;
    this.req = null;
    this.state = "idle";
    this.dead = true;
    this.sock.destroy();
    const msg = err instanceof Error ? err.message : String(err);
    r.reject(new RawGetError(msg, err, this.received, this.reused && this.received === 0));
  }
}

class OriginPool {
  private readonly idle: Conn[] = [];
  private count = 0;
  private waiters: (() => void)[] = [];
  private readonly host: string;
  private readonly port: number;
  private readonly max: number;

  constructor(host: string, port: number, max: number) {
    this.host = host;
    this.port = port;
    this.max = max;
  }

  async acquire(fresh: boolean): Promise<Conn> {
    for (;;) {
      if (!fresh) {
        let c: Conn | undefined;
        while ((c = this.idle.pop()) && c.dead);
        if (c) return c;
      }
      if (this.count < this.max) {
        this.count++;
        return new Conn(this, this.host, this.port);
      }
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  release(c: Conn, reusable: boolean): void {
    if (reusable && !c.dead) {
      // An idle keep-alive connection must not keep the process alive.
      c.sock.unref();
      this.idle.push(c);
      this.waiters.shift()?.();
    } else {
      c.dead = true;
      c.sock.destroy();
    }
  }

  /** A connection closed (by either side): it no longer counts against the limit. */
  gone(c: Conn): void {
    this.count--;
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    this.waiters.shift()?.();
  }

  close(): void {
    for (const c of this.idle.splice(0)) c.sock.destroy();
  }
}

/** GETs over raw keep-alive connections, at most `maxSockets` per origin. */
export class RawGetter {
  private readonly pools = new Map<string, OriginPool>();
  private readonly maxSockets: number;

  constructor(maxSockets: number) {
    this.maxSockets = Math.max(1, maxSockets);
  }

  /**
   * GETs `url` (http: only) and resolves with the answer; a 2xx body must be exactly
   * `size` bytes and is received into `into` when it is large enough. Rejects with a
   * RawGetError (connection level) or a RawProtocolError. `onConn` gets the connection's
   * destroyer, for time-outs and aborts.
   */
  async get(
    url: URL,
    token: string,
    size: number,
    into: Uint8Array | undefined,
    maxOtherBody: number,
    onConn: (destroy: (e: Error) => void) => void,
  ): Promise<RawResponse> {
    const port = url.port ? Number(url.port) : 80;
    const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
    let pool = this.pools.get(url.host);
    if (!pool) {
      pool = new OriginPool(host, port, this.maxSockets);
      this.pools.set(url.host, pool);
    }
    const path = url.pathname + url.search;
    const attempt = async (fresh: boolean): Promise<RawResponse> => {
      const conn = await pool.acquire(fresh);
      onConn((e) => conn.destroy(e));
      try {
        return await new Promise<RawResponse>((resolve, reject) =>
          conn.send(path, url.host, token, { size, into, maxOtherBody, resolve, reject }),
        );
      } catch (err) {
        // A node closes idle keep-alive connections; one it had closed under us is retried
        // once on a new connection (a GET is idempotent).
        if (!fresh && err instanceof RawGetError && err.stale) return attempt(true);
        throw err;
      }
    };
    return attempt(false);
  }

  close(): void {
    for (const p of this.pools.values()) p.close();
    this.pools.clear();
  }
}
