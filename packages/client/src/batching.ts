import { AppError } from "@cumulus/protocol/errors";
import { MAX_BATCH_ITEMS } from "@cumulus/protocol/api";
import type { BeginUploadRequest, BeginUploadResponse, CommitUploadRequest, DownloadPlan } from "@cumulus/protocol/api";
import { CumulusClient, type CommitUploadResponse, type CumulusClientOptions, type RequestOptions } from "./client.ts";

// Many small files cost control-plane requests each (begin + commit, or a download plan); on a busy
// server the requests, not the bytes, are the time. This client sends the beginUpload,
// commitUpload and downloadPlan calls that overlap in time as one batch request each (the /uploads/batch
// endpoints), Nagle-style: the first call goes out on the next tick, calls that arrive while
// a batch is in flight wait and go together in the next one. Each caller still gets its own
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

class Coalescer<I, O> {
  private queue: Waiter<I, O>[] = [];
  private inFlight = false;
  private scheduled = false;
  private readonly sendBatch: (items: I[], signal: AbortSignal | undefined) => Promise<Result<O>[]>;
  private readonly sendOne: (item: I, o: RequestOptions) => Promise<O>;
  private unsupported = false;

  constructor(
    sendBatch: (items: I[], signal: AbortSignal | undefined) => Promise<Result<O>[]>,
    sendOne: (item: I, o: RequestOptions) => Promise<O>,
  ) {
    this.sendBatch = sendBatch;
    this.sendOne = sendOne;
  }

  call(input: I, o?: RequestOptions): Promise<O> {
    if (this.unsupported) return this.sendOne(input, o ?? {});
    o?.signal?.throwIfAborted();
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ input, signal: o?.signal, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.inFlight || this.scheduled || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, MAX_BATCH_ITEMS).filter((w) => {
      if (!w.signal?.aborted) return true;
      w.reject(w.signal.reason);
      return false;
    });
    if (batch.length === 0) return this.schedule();
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

  constructor(opts: CumulusClientOptions) {
    super(opts);
    this.begins = new Coalescer(
      async (uploads, signal) => (await this.beginUploadBatch({ uploads }, { ...(signal ? { signal } : {}) })).results,
      (input, o) => super.beginUpload(input, o),
    );
    this.commits = new Coalescer(
      async (commits, signal) => (await this.commitUploadBatch({ commits }, { ...(signal ? { signal } : {}) })).results,
      ({ uploadId, ...input }, o) => super.commitUpload(uploadId, input, o),
    );
    this.plans = new Coalescer(
      async (files, signal) => (await this.downloadPlanBatch({ files }, { ...(signal ? { signal } : {}) })).results,
      ({ path, version }, o) => super.downloadPlan(path, { ...(version !== undefined ? { version } : {}), ...o }),
    );
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
