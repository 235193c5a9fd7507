import { AppError } from "@cumulus/protocol/errors";
import { MAX_BATCH_ITEMS } from "@cumulus/protocol/api";
import type { BeginUploadRequest, BeginUploadResponse, CommitUploadRequest, DownloadPlan } from "@cumulus/protocol/api";
import { CumulusClient, type CommitUploadResponse, type CumulusClientOptions, type RequestOptions } from "./client.ts";

// Many small files cost control-plane requests each (begin + commit, or a download plan); on a busy
// server the requests, not the bytes, are the time. This client sends the beginUpload,
// commitUpload and downloadPlan calls that overlap in time as one batch request each (the /uploads/batch
// endpoints), Nagle-style: the first call goes out on the next tick, calls that arrive while
// a batch is in flight wait and go together in the next one. Under load (the last batch carried
// several calls) the next batch lingers a few milliseconds for more calls, so a sync agent with
// hundreds of files in flight sends tens to hundreds per request: the server's work per batch
// is a fixed set of queries, so its cost per file falls with the batch size. A lone call (the
// last batch was one call, or none) never waits. Each caller still gets its own
// result or its own AppError, so uploadContent and everything above it are unchanged. A
// server without the batch endpoints (404) is remembered and the calls go one by one.

type Result<T> =
  | { ok: true; value: T }
  | { ok: false; error: { code: string; message: string; details?: Record<string, unknown> | undefined } };

interface Waiter<I, O> {
  input: I;
  signal: AbortSignal | undefined;
  resolve(v: O): void;
  reject(e: unknown): void;
}

/**
 * How long a batch waits for more calls when the previous batch carried several: a fraction
 * of one batch request's round trip under load, far below what one file's sync takes.
 */
export const DEFAULT_BATCH_LINGER_MS = 15;

export class Coalescer<I, O> {
  private queue: Waiter<I, O>[] = [];
  private inFlight = false;
  private scheduled = false;
  private timer: NodeJS.Timeout | null = null;
  /** Calls in the last batch sent: more than one means calls are overlapping (load). */
  private lastSize = 0;
  private readonly sendBatch: (items: I[], signal: AbortSignal | undefined) => Promise<Result<O>[]>;
  private readonly sendOne: (item: I, o: RequestOptions) => Promise<O>;
  private readonly lingerMs: number;
  private readonly maxItems: number;
  private unsupported = false;
  /** Requests sent and the calls they carried (batch requests and plain ones alike). */
  readonly stats = { requests: 0, calls: 0 };

  constructor(
    sendBatch: (items: I[], signal: AbortSignal | undefined) => Promise<Result<O>[]>,
    sendOne: (item: I, o: RequestOptions) => Promise<O>,
    opts: { lingerMs?: number; maxItems?: number } = {},
  ) {
    this.sendBatch = sendBatch;
    this.sendOne = sendOne;
    this.lingerMs = opts.lingerMs ?? DEFAULT_BATCH_LINGER_MS;
    this.maxItems = Math.min(opts.maxItems ?? MAX_BATCH_ITEMS, MAX_BATCH_ITEMS);
  }

  call(input: I, o?: RequestOptions): Promise<O> {
    if (this.unsupported) return this.sendOne(input, o ?? {});
    o?.signal?.throwIfAborted();
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ input, signal: o?.signal, resolve, reject });
      if (this.timer && this.queue.length >= this.maxItems) {
        // Lingering, and a full batch is here: no reason to wait longer.
        clearTimeout(this.timer);
        this.timer = null;
        this.scheduled = false;
      }
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.inFlight || this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    const go = () => {
      this.scheduled = false;
      this.timer = null;
      void this.flush();
    };
    if (this.lastSize > 1 && this.lingerMs > 0 && this.queue.length < this.maxItems)
      this.timer = setTimeout(go, this.lingerMs);
    else setImmediate(go);
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, this.maxItems).filter((w) => {
      if (!w.signal?.aborted) return true;
      w.reject(w.signal.reason);
      return false;
    });
    if (batch.length === 0) return this.schedule();
    this.lastSize = batch.length;
    this.stats.requests++;
    this.stats.calls += batch.length;
    this.inFlight = true;
    try {
      if (batch.length === 1) {
        // Alone: the plain endpoint says the same with less work on both sides.
        const w = batch[0]!;
        await this.sendOne(w.input, w.signal ? { signal: w.signal } : {}).then(w.resolve, w.reject);
        return;
      }
      let results: Result<O>[];
      try {
        results = await this.sendBatch(
          batch.map((w) => w.input),
          batch[0]!.signal,
        );
      } catch (err) {
        if (err instanceof AppError && err.code === "NOT_FOUND" && /unexpected HTTP 404/.test(err.message)) {
          // An older server: no batch routes. Go one by one from now on.
          this.unsupported = true;
          await Promise.all(
            batch.map((w) => this.sendOne(w.input, w.signal ? { signal: w.signal } : {}).then(w.resolve, w.reject)),
          );
          return;
        }
        for (const w of batch) w.reject(err);
        return;
      }
      if (results.length !== batch.length) {
        const e = new AppError("INTERNAL", `the server answered ${results.length} results for ${batch.length} items`);
        for (const w of batch) w.reject(e);
        return;
      }
      results.forEach((r, k) => {
        const w = batch[k]!;
        if (r.ok) w.resolve(r.value);
        else w.reject(AppError.fromBody({ error: r.error }));
      });
    } finally {
      this.inFlight = false;
      this.schedule();
    }
  }
}

/** A CumulusClient whose overlapping beginUpload / commitUpload / downloadPlan calls travel as batches. */
export class BatchingClient extends CumulusClient {
  private readonly begins: Coalescer<BeginUploadRequest, BeginUploadResponse>;
  private readonly commits: Coalescer<{ uploadId: string } & CommitUploadRequest, CommitUploadResponse>;
  private readonly plans: Coalescer<{ path: string; version?: number }, DownloadPlan>;

  /** `batchLingerMs`: how long a batch waits for more calls under load (0: never waits). */
  constructor(opts: CumulusClientOptions & { batchLingerMs?: number }) {
    const { batchLingerMs, ...rest } = opts;
    super(rest);
    const co = batchLingerMs !== undefined ? { lingerMs: batchLingerMs } : {};
    this.begins = new Coalescer(
      async (uploads, signal) => (await this.beginUploadBatch({ uploads }, { ...(signal ? { signal } : {}) })).results,
      (input, o) => super.beginUpload(input, o),
      co,
    );
    this.commits = new Coalescer(
      async (commits, signal) => (await this.commitUploadBatch({ commits }, { ...(signal ? { signal } : {}) })).results,
      ({ uploadId, ...input }, o) => super.commitUpload(uploadId, input, o),
      co,
    );
    this.plans = new Coalescer(
      async (files, signal) => (await this.downloadPlanBatch({ files }, { ...(signal ? { signal } : {}) })).results,
      ({ path, version }, o) => super.downloadPlan(path, { ...(version !== undefined ? { version } : {}), ...o }),
      co,
    );
  }

  /** Requests sent and calls carried per kind: calls / requests is the mean batch size. */
  batchStats(): Record<"begin" | "commit" | "plan", { requests: number; calls: number }> {
    return { begin: { ...this.begins.stats }, commit: { ...this.commits.stats }, plan: { ...this.plans.stats } };
  }

  override downloadPlan(path: string, opts: { version?: number } & RequestOptions = {}): Promise<DownloadPlan> {
    const { version, ...o } = opts;
    return this.plans.call({ path, ...(version !== undefined ? { version } : {}) }, o);
  }

  override beginUpload(input: BeginUploadRequest, o?: RequestOptions): Promise<BeginUploadResponse> {
    return this.begins.call(input, o);
  }

  override commitUpload(
    uploadId: string,
    input: CommitUploadRequest,
    o?: RequestOptions,
  ): Promise<CommitUploadResponse> {
    return this.commits.call({ uploadId, ...input }, o);
  }
}
