import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import type { ChunkReportRequest } from "@cumulus/protocol/node-api";
import type { NodeIdentity } from "../store/identity.ts";
import type { NodeState } from "../service/node-state.ts";
import { signNodeAuth } from "../service/signing.ts";

export interface ChunkReporterOptions {
  controlUrl: string;
  state: NodeState;
  identity: NodeIdentity;
  log: Logger;
  /** Batch reports found within this window into one request. */
  debounceMs?: number;
  requestTimeoutMs?: number;
}

type Source = ChunkReportRequest["source"];

/**
 * Tells the control plane about chunks this node found corrupt or missing (by the
 * scrubber, or while serving a read), so their replicas stop counting and the reconciler
 * replaces them. Batched, retried with backoff while the control plane is unreachable;
 * a report that cannot be delivered is not fatal: the next inventory of this node after
 * it re-registers shows the chunk gone anyway.
 */
export class ChunkReporter {
  private readonly o: ChunkReporterOptions;
  private pending = new Map<string, { kind: "corrupt" | "missing"; source: Source }>();
  private timer: NodeJS.Timeout | null = null;
  private sending: Promise<void> | null = null;
  private stopped = false;
  reported = 0;

  constructor(opts: ChunkReporterOptions) {
    this.o = opts;
  }

  corrupt(id: string, source: Source): void {
    this.add(id, "corrupt", source);
  }

  missing(id: string, source: Source): void {
    if (!this.pending.has(id)) this.add(id, "missing", source);
  }

  private add(id: string, kind: "corrupt" | "missing", source: Source): void {
    if (this.stopped) return;
    this.pending.set(id, { kind, source });
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.o.debounceMs ?? 200);
  }

  private flush(): void {
    if (this.sending || this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    this.sending = this.send(batch).finally(() => {
      this.sending = null;
      if (this.pending.size > 0) this.flush();
    });
  }

  private async send(batch: Map<string, { kind: "corrupt" | "missing"; source: Source }>): Promise<void> {
    const bySource = new Map<Source, { corrupt: string[]; missing: string[] }>();
    for (const [id, v] of batch) {
      const b = bySource.get(v.source) ?? { corrupt: [], missing: [] };
      b[v.kind].push(id);
      bySource.set(v.source, b);
    }
    for (const [source, lists] of bySource) {
      const body: ChunkReportRequest = { ...lists, source };
      for (let attempt = 0; attempt < 8 && !this.stopped; attempt++) {
        const active = this.o.state.active();
        if (active !== null) {
          try {
            const jwt = await signNodeAuth(this.o.identity.privateKey, active.nodeId, active.epoch);
            const res = await fetch(`${this.o.controlUrl}/api/nodes/chunks/report`, {
              method: "POST",
              headers: { "content-type": "application/json", authorization: `Bearer ${jwt}` },
              body: JSON.stringify(body),
              signal: AbortSignal.timeout(this.o.requestTimeoutMs ?? 10_000),
            });
            await res.text();
            if (res.ok) {
              this.reported += lists.corrupt.length + lists.missing.length;
              this.o.log.info({ ...lists, source }, "reported bad chunks to the control plane");
              break;
            }
            this.o.log.warn({ status: res.status }, "the control plane refused a bad-chunk report; retrying");
          } catch (err) {
            this.o.log.warn({ error: (err as Error).message }, "bad-chunk report failed; retrying");
          }
        }
        await sleep(Math.min(10_000, 250 * 2 ** attempt)).catch(() => undefined);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.sending;
  }
}
