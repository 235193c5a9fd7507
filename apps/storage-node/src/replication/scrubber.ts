import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import type { ChunkStore } from "../store/chunk-store.ts";

export interface ScrubberOptions {
  store: ChunkStore;
  log: Logger;
  /** Re-hash budget in bytes per second; 0 disables scrubbing. */
  bytesPerSec: number;
  /** Pause between two full passes. */
  passIntervalMs: number;
}

const PAGE = 500;

/**
 * Background re-hashing of every chunk on the node at a bounded rate, so bit rot is
 * found before a reader or a repair needs the copy. Reading a chunk through the store's
 * verifying stream is the check: a mismatch quarantines the file and fires the store's
 * onCorrupt hook (which reports it), exactly as a client read would. `scrubbing` tells
 * that hook which chunk the scrubber is reading.
 */
export class Scrubber {
  private readonly o: ScrubberOptions;
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;
  /** The chunk being re-hashed now, if any. */
  scrubbing: string | null = null;
  passes = 0;
  chunksChecked = 0;
  bytesChecked = 0;

  constructor(opts: ScrubberOptions) {
    this.o = opts;
  }

  start(): void {
    if (this.o.bytesPerSec <= 0) return;
    this.loop ??= this.run().catch((err: unknown) => {
      if (!this.abort.signal.aborted) this.o.log.error({ err }, "scrubber crashed");
    });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    // Let the node register and settle before the first pass.
    await sleep(Math.min(this.o.passIntervalMs, 5_000), undefined, { signal });
    while (!signal.aborted) {
      const started = Date.now();
      const { chunks, bytes, bad } = await this.pass(signal);
      this.passes += 1;
      this.o.log.info(
        { chunks, bytes, bad, seconds: Math.round((Date.now() - started) / 100) / 10 },
        "scrub pass finished",
      );
      await sleep(this.o.passIntervalMs, undefined, { signal });
    }
  }

  private async pass(signal: AbortSignal): Promise<{ chunks: number; bytes: number; bad: number }> {
    const rate = this.o.bytesPerSec;
    let cursor: string | null = null;
    let chunks = 0;
    let bytes = 0;
    let bad = 0;
    const t0 = Date.now();
    for (;;) {
      const page = await this.o.store.list(cursor, PAGE);
      if (page.length === 0) break;
      for (const info of page) {
        if (signal.aborted) return { chunks, bytes, bad };
        cursor = info.id;
        const handle = await this.o.store.open(info.id);
        // Gone since the listing: deleted on purpose meanwhile (or quarantined by a read).
        if (handle === null) continue;
        this.scrubbing = info.id;
        try {
          for await (const buf of handle.readAll() as AsyncIterable<Buffer>) {
            bytes += buf.length;
            this.bytesChecked += buf.length;
            // Stay under the budget: sleep whenever we are ahead of bytes/rate.
            const ahead = (bytes / rate) * 1000 - (Date.now() - t0);
            if (ahead > 5) await sleep(ahead, undefined, { signal });
          }
        } catch {
          if (signal.aborted) return { chunks, bytes, bad };
          bad += 1; // quarantined and reported by the store's hook
        } finally {
          this.scrubbing = null;
        }
        chunks += 1;
        this.chunksChecked += 1;
      }
    }
    return { chunks, bytes, bad };
  }
}
