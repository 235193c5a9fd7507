// Pipeline forwarding over UDT: used for a next hop in another site (WAN), with the same
// contract as the HTTP Forward (write while the chunk arrives, then the hop's receipts).
import { AppError } from "@cumulus/protocol/errors";
import { ZPipelineFailureDetails, type PipelineHop } from "@cumulus/protocol/node-api";
import { UDT_FRAMING_VERSION, type UdtResponse } from "@cumulus/protocol/udt-frames";
import type { UdtConnection, UdtPool } from "@cumulus/client/node/udt-pool";
import type { Metrics } from "../service/metrics.ts";
import type { Forward, ForwardOutcome } from "../service/pipeline.ts";

/**
 * Streams one chunk to `hop.udt`. The bytes written are kept (by reference, a chunk is at
 * most 4 MiB) until the hop answered, so a pooled connection that turns out to be stale
 * before any answer is replaced by a fresh one and the chunk replayed, once.
 */
export class UdtForward implements Forward {
  readonly hop: PipelineHop;
  private readonly chunk: string;
  private readonly token: string;
  private readonly size: number;
  private readonly pool: UdtPool;
  private readonly metrics: Metrics;
  private readonly idleMs: number;
  private readonly sent: Uint8Array[] = [];
  private conn: Promise<UdtConnection | null>;
  private current: UdtConnection | null = null;
  private ended = false;
  private aborted = false;
  private failed: ForwardOutcome | null = null;
  private readonly outcome: Promise<ForwardOutcome>;
  private resolveEnded!: () => void;
  private readonly endedP: Promise<void>;

  constructor(
    hop: PipelineHop,
    chunk: string,
    token: string,
    size: number,
    pool: UdtPool,
    metrics: Metrics,
    idleMs: number,
  ) {
    this.hop = hop;
    this.chunk = chunk;
    this.token = token;
    this.size = size;
    this.pool = pool;
    this.metrics = metrics;
    this.idleMs = idleMs;
    this.endedP = new Promise((r) => {
      this.resolveEnded = r;
    });
    this.conn = this.open(false);
    this.outcome = this.run();
  }

  private async open(fresh: boolean): Promise<UdtConnection | null> {
    try {
      const c = await this.pool.acquire(this.hop.udt!, { fresh });
      this.current = c;
      await c.sendHeader({ v: UDT_FRAMING_VERSION, op: "put", chunk: this.chunk, token: this.token, size: this.size });
      return c;
    } catch (err) {
      this.failed ??= this.failure(`could not be reached over UDT at ${this.hop.udt} (${describe(err)})`);
      return null;
    }
  }

  async write(buf: Uint8Array): Promise<void> {
    if (this.aborted) return;
    this.sent.push(buf);
    const c = await this.conn;
    if (!c || this.aborted) return;
    try {
      await this.withIdleTimeout(c, c.write(buf));
      this.metrics.udtBytesOut += buf.length;
    } catch {
      // Reported by run() (it reads the connection's fate), or replayed there.
    }
  }

  end(): void {
    this.ended = true;
    this.resolveEnded();
  }

  abort(): void {
    this.aborted = true;
    this.resolveEnded();
    this.current?.socket.destroy();
  }

  result(): Promise<ForwardOutcome> {
    return this.outcome;
  }

  private async run(): Promise<ForwardOutcome> {
    let c = await this.conn;
    if (!c) {
      await this.endedP;
      return this.failed!;
    }
    let answer: UdtResponse;
    try {
      // The answer comes once the whole chunk went out: time it only from then on.
      const first = c;
      const response = first.readResponse();
      answer = await Promise.race([response, this.endedP.then(() => this.withIdleTimeout(first, response))]);
    } catch (err) {
      if (this.aborted) return this.failure("the pipeline was aborted");
      if (!c.reused) {
        this.pool.release(c, false);
        return this.failure(`its UDT connection broke (${describe(err)})`);
      }
      // A stale pooled connection: replay on a fresh one once everything arrived here.
      this.pool.release(c, false);
      await this.endedP;
      if (this.aborted || !this.ended) return this.failure("the pipeline was aborted");
      c = await this.open(true);
      if (!c) return this.failed!;
      try {
        for (const b of this.sent) {
          await this.withIdleTimeout(c, c.write(b));
          this.metrics.udtBytesOut += b.length;
        }
        answer = await this.withIdleTimeout(c, c.readResponse());
      } catch (err2) {
        this.pool.release(c, false);
        return this.failure(`its UDT connection broke (${describe(err2)})`);
      }
    }
    if (answer.status === 201) {
      this.pool.release(c, true);
      const receipts = answer.receipts ?? [];
      if (receipts.length === 0) return this.failure("it answered 201 without receipts");
      return { ok: true, receipts };
    }
    this.pool.release(c, false);
    const err = AppError.fromBody(answer.error ? { error: answer.error } : null, answer.status);
    const nested = ZPipelineFailureDetails.safeParse(err.details);
    if (nested.success) return { ok: false, error: new AppError("UNAVAILABLE", err.message, nested.data) };
    return this.failure(`it answered ${answer.status} ${err.code}: ${err.message}`, err.code);
  }

  private withIdleTimeout<T>(c: UdtConnection, p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      p,
      new Promise<T>((_, reject) => {
        timer = setTimeout(() => {
          c.socket.destroy();
          reject(new Error(`no progress for ${this.idleMs} ms`));
        }, this.idleMs);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  private failure(reason: string, cause?: string): ForwardOutcome {
    const details = {
      failedNodeId: this.hop.nodeId,
      failedUrl: this.hop.udt ? `udt://${this.hop.udt}` : this.hop.url,
      ...(cause ? { cause } : {}),
    };
    return {
      ok: false,
      error: new AppError(
        "UNAVAILABLE",
        `replica pipeline failed at storage node ${this.hop.nodeId} (udt://${this.hop.udt}): ${reason}`,
        details,
      ),
    };
  }
}

function describe(err: unknown): string {
  if (typeof err === "object" && err !== null) {
    const code = "code" in err && typeof err.code === "string" ? err.code : undefined;
    const message = "message" in err && typeof err.message === "string" ? err.message : undefined;
    return code ?? message ?? "unknown error";
  }
  return String(err);
}
