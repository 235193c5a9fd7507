// SHA-256 of chunks on a worker thread, over bytes the caller keeps in SharedArrayBuffers:
// the chunk pass then cuts (FastCDC, main thread) and hashes (worker) at the same time, on
// two cores, without copying a byte. Results come back in the order the jobs were sent.
import { Worker } from "node:worker_threads";

/** A run of bytes of one chunk: `buf` must be backed by a SharedArrayBuffer. */
export interface SharedPiece {
  buf: Uint8Array;
  start: number;
  end: number;
}

interface Job {
  resolve: (id: string) => void;
  reject: (err: Error) => void;
}

// Plain CommonJS evaluated by the worker (`eval: true`): no module file to resolve, so it
// works the same from source, from a bundle (the desktop app) and from the CLI.
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { createHash } = require("node:crypto");
parentPort.on("message", (pieces) => {
  try {
    const h = createHash("sha256");
    for (const [sab, offset, start, end] of pieces) h.update(new Uint8Array(sab, offset + start, end - start));
    parentPort.postMessage({ id: h.digest("hex") });
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message || err) });
  }
});
`;

export class ChunkHashWorker {
  private readonly worker: Worker;
  private readonly jobs: Job[] = [];
  private failed: Error | null = null;
  private closed = false;

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    // Idle between jobs it must not keep the process alive; a pending job holds a ref.
    this.worker.unref();
    this.worker.on("message", (m: { id?: string; error?: string }) => {
      const job = this.jobs.shift();
      if (this.jobs.length === 0) this.worker.unref();
      if (!job) return;
      if (m.id !== undefined) job.resolve(m.id);
      else job.reject(new Error(`chunk hash worker: ${m.error ?? "no result"}`));
    });
    const fail = (err: Error) => {
      this.failed = err;
      for (const job of this.jobs.splice(0)) job.reject(err);
    };
    this.worker.on("error", (err) => fail(err));
    this.worker.on("exit", (code) => {
      if (!this.closed) fail(new Error(`chunk hash worker exited with code ${code}`));
    });
  }

  /** The SHA-256 (hex) of the pieces, in order. The bytes must not change until it resolves. */
  hash(pieces: readonly SharedPiece[]): Promise<string> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.closed) return Promise.reject(new Error("chunk hash worker is closed"));
    const msg = pieces.map((p) => {
      if (!(p.buf.buffer instanceof SharedArrayBuffer)) {
        throw new TypeError("ChunkHashWorker.hash needs buffers backed by a SharedArrayBuffer");
      }
      return [p.buf.buffer, p.buf.byteOffset, p.start, p.end] as const;
    });
    return new Promise<string>((resolve, reject) => {
      this.jobs.push({ resolve, reject });
      if (this.jobs.length === 1) this.worker.ref();
      this.worker.postMessage(msg);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const job of this.jobs.splice(0)) job.reject(new Error("chunk hash worker is closed"));
    await this.worker.terminate();
  }
}
