/**
 * Per-node concurrency of running tasks (copies into a node, copies out of it, deletes on
 * it), enforced where the tasks run. Admission queues a few tasks more per node than may
 * run (so a node never idles waiting for the next scan); these counters hold the extra
 * ones back until a slot frees.
 */
export type SlotKind = "in" | "out" | "del";

export class NodeSlots {
  private readonly limits: Record<SlotKind, number>;
  private readonly used = new Map<string, number>();
  private readonly waiting = new Map<string, (() => void)[]>();

  constructor(limits: Record<SlotKind, number>) {
    this.limits = limits;
  }

  /** Resolves with a release function once `node` has a free `kind` slot. */
  async acquire(kind: SlotKind, node: string): Promise<() => void> {
    const key = `${kind}:${node}`;
    while ((this.used.get(key) ?? 0) >= this.limits[kind]) {
      await new Promise<void>((resolve) => {
        const q = this.waiting.get(key) ?? [];
        q.push(resolve);
        this.waiting.set(key, q);
      });
    }
    this.used.set(key, (this.used.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.used.get(key) ?? 1) - 1;
      if (n <= 0) this.used.delete(key);
      else this.used.set(key, n);
      const q = this.waiting.get(key);
      const next = q?.shift();
      if (q && q.length === 0) this.waiting.delete(key);
      next?.();
    };
  }

  /** Tasks running now (holding a slot), for the status. */
  running(kind: SlotKind): number {
    let n = 0;
    for (const [k, v] of this.used) if (k.startsWith(`${kind}:`)) n += v;
    return n;
  }
}
