/**
 * Runs `worker` over `items` with at most `limit` in flight. Stops taking new items once
 * `shouldStop()` is true or a worker threw; items already started always finish, so that
 * nothing is left running behind the caller's back. Rethrows the first error.
 */
export async function runPool<T>(
  items: Iterable<T>,
  limit: number,
  worker: (item: T) => Promise<void>,
  shouldStop: () => boolean = () => false,
): Promise<void> {
  const it = items[Symbol.iterator]();
  let failed = false;
  let firstError: unknown;
  const lane = async (): Promise<void> => {
    for (;;) {
      if (failed || shouldStop()) return;
      const next = it.next();
      if (next.done) return;
      try {
        await worker(next.value);
      } catch (err) {
        if (!failed) {
          failed = true;
          firstError = err;
        }
        return;
      }
    }
  };
  const n = Math.max(1, Math.floor(limit));
  await Promise.all(Array.from({ length: n }, lane));
  if (failed) throw firstError;
}
