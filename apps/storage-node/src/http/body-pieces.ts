import type { Readable } from "node:stream";

/** Bytes queued before the request is paused (TCP back-pressure then reaches the sender). */
const DEFAULT_MAX_QUEUED = 2 * 1024 * 1024;

/**
 * A request body as the pieces the socket delivered, one per iteration, never copied.
 *
 * A Readable's own async iterator calls `read()`, which concatenates everything buffered
 * into a new Buffer whenever the consumer fell behind by more than one piece: on a busy
 * node that copy and its garbage were a third of a chunk PUT's CPU (docs/benchmarks.md).
 * Listening starts at the first `next()`, so a body is not requested (`Expect:
 * 100-continue`) before the consumer wants it. A stream that closes or fails before its
 * end makes `next()` reject.
 */
export function bodyPieces(stream: Readable, maxQueued = DEFAULT_MAX_QUEUED): AsyncIterable<Buffer> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<Buffer> {
      const queue: Buffer[] = [];
      let head = 0;
      let queued = 0;
      let ended = false;
      let failure: Error | null = null;
      let wake: (() => void) | null = null;
      let started = false;
      const notify = () => {
        const w = wake;
        wake = null;
        w?.();
      };
      const onData = (b: Buffer) => {
        queue.push(b);
        queued += b.length;
        if (queued >= maxQueued) stream.pause();
        notify();
      };
      const onEnd = () => {
        ended = true;
        notify();
      };
      const onError = (err: Error) => {
        failure ??= err;
        notify();
      };
      const onClose = () => {
        if (!ended) failure ??= new Error("the request body was cut off (connection closed)");
        notify();
      };
      const detach = () => {
        stream.off("data", onData);
        stream.off("end", onEnd);
        stream.off("error", onError);
        stream.off("close", onClose);
      };
      const start = () => {
        started = true;
        if (stream.readableEnded) ended = true;
        else if (stream.destroyed) failure = new Error("the request body was cut off (connection closed)");
        stream.on("data", onData);
        stream.on("end", onEnd);
        stream.on("error", onError);
        stream.on("close", onClose);
      };
      const take = (): Buffer | null => {
        if (head === queue.length) return null;
        const b = queue[head]!;
        queue[head++] = EMPTY;
        if (head === queue.length) {
          queue.length = 0;
          head = 0;
        }
        queued -= b.length;
        if (queued < maxQueued && stream.isPaused() && !ended) stream.resume();
        return b;
      };
      return {
        async next(): Promise<IteratorResult<Buffer>> {
          if (!started) start();
          for (;;) {
            const b = take();
            if (b !== null) return { done: false, value: b };
            if (ended) {
              detach();
              return { done: true, value: undefined };
            }
            if (failure !== null) {
              detach();
              throw failure;
            }
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
          }
        },
        async return(): Promise<IteratorResult<Buffer>> {
          // The consumer gave up (a failed write): the rest of the body is not wanted.
          // Destroyed as a Readable's own iterator does, so the socket is not left open.
          detach();
          queue.length = 0;
          head = 0;
          if (started && !ended) stream.destroy();
          return { done: true, value: undefined };
        },
      };
    },
  };
}

const EMPTY = Buffer.alloc(0);
