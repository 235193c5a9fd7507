import { describe, expect, it } from "vitest";
import { AppError } from "@cumulus/protocol/errors";
import { Coalescer } from "./batching.ts";

// The Coalescer over plain functions standing for the server: the batch sizes it chooses,
// and that every caller gets its own answer. Sizes only, no timings: the linger is set far
// longer than the test's own ticks so the outcome does not depend on the machine's speed.

type Sent = { batches: number[][]; singles: number[] };

function server(sent: Sent, release: Promise<void> = Promise.resolve()) {
  return {
    sendBatch: async (items: number[]) => {
      sent.batches.push(items);
      await release;
      return items.map((n) =>
        n < 0
          ? { ok: false as const, error: { code: "BAD_REQUEST", message: `negative: ${n}` } }
          : { ok: true as const, value: n * 2 },
      );
    },
    sendOne: async (n: number) => {
      sent.singles.push(n);
      await release;
      if (n < 0) throw new AppError("BAD_REQUEST", `negative: ${n}`);
      return n * 2;
    },
  };
}

const ticks = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise<void>((r) => setImmediate(r));
};

describe("Coalescer", () => {
  it("sends a lone call at once through the plain endpoint", async () => {
    const sent: Sent = { batches: [], singles: [] };
    const s = server(sent);
    const c = new Coalescer(s.sendBatch, s.sendOne, { lingerMs: 60_000 });
    // With a linger of a minute, a lone call that waited would time the test out.
    expect(await c.call(21)).toBe(42);
    expect(sent).toEqual({ batches: [], singles: [21] });
  });

  it("sends the calls that arrive while a request is in flight as one batch, each with its own result", async () => {
    const sent: Sent = { batches: [], singles: [] };
    let open!: () => void;
    const s = server(sent, new Promise<void>((r) => (open = r)));
    const c = new Coalescer(s.sendBatch, s.sendOne, { lingerMs: 0 });
    const first = c.call(1);
    await ticks(2);
    const rest = [2, -3, 4].map((n) =>
      c.call(n).then(
        (v) => ({ v }),
        (e: unknown) => ({ e }),
      ),
    );
    open();
    expect(await first).toBe(2);
    const out = await Promise.all(rest);
    expect(out[0]).toEqual({ v: 4 });
    expect((out[1] as { e: AppError }).e).toBeInstanceOf(AppError);
    expect((out[1] as { e: AppError }).e.message).toBe("negative: -3");
    expect(out[2]).toEqual({ v: 8 });
    expect(sent).toEqual({ singles: [1], batches: [[2, -3, 4]] });
  });

  it("under load, lingers for calls that arrive over several ticks and sends them together", async () => {
    const sent: Sent = { batches: [], singles: [] };
    const s = server(sent);
    const c = new Coalescer(s.sendBatch, s.sendOne, { lingerMs: 60_000, maxItems: 10 });
    // Two calls in one tick: a batch of two, which marks the load.
    await Promise.all([c.call(1), c.call(2)]);
    // Then calls one tick apart: without the linger each would be its own request.
    const later: Promise<number>[] = [];
    for (let i = 0; i < 10; i++) {
      later.push(c.call(10 + i));
      await ticks(1);
    }
    // The tenth call fills a batch (maxItems): it goes without waiting out the linger.
    expect(await Promise.all(later)).toEqual(Array.from({ length: 10 }, (_, i) => 2 * (10 + i)));
    expect(sent.batches).toEqual([[1, 2], Array.from({ length: 10 }, (_, i) => 10 + i)]);
  });

  it("without the linger, calls one tick apart go one by one", async () => {
    const sent: Sent = { batches: [], singles: [] };
    const s = server(sent);
    const c = new Coalescer(s.sendBatch, s.sendOne, { lingerMs: 0 });
    await Promise.all([c.call(1), c.call(2)]);
    for (let i = 0; i < 3; i++) {
      await c.call(10 + i);
    }
    expect(sent).toEqual({ batches: [[1, 2]], singles: [10, 11, 12] });
  });

  it("never sends more than maxItems calls in one request", async () => {
    const sent: Sent = { batches: [], singles: [] };
    const s = server(sent);
    const c = new Coalescer(s.sendBatch, s.sendOne, { lingerMs: 0, maxItems: 4 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => c.call(i)));
    expect(sent.batches.map((b) => b.length)).toEqual([4, 4, 2]);
  });
});
