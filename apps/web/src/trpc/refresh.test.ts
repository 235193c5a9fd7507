import { QueryClient, QueryObserver } from "@tanstack/react-query";
import { afterEach, expect, test } from "vitest";
import { refreshQueries } from "./refresh.ts";

// A folder listing whose first fetch is answered before a move commits and arrives after it.

let qc: QueryClient | null = null;
afterEach(() => {
  qc?.clear();
  qc = null;
});

function slowListing() {
  qc = new QueryClient({ defaultOptions: { queries: { staleTime: 5_000, retry: false } } });
  let contents = "empty";
  const replies: (() => void)[] = [];
  const observer = new QueryObserver(qc, {
    queryKey: ["files", "list", "/home/a/Archive"],
    queryFn: () => {
      const answer = contents; // what the server saw when it answered
      return new Promise<string>((resolve) => replies.push(() => resolve(answer)));
    },
  });
  const unsubscribe = observer.subscribe(() => undefined);
  return {
    qc,
    move: () => (contents = "final.txt"),
    /** Lets pending work start, then delivers every answer in flight, oldest first. */
    deliver: async () => {
      await new Promise((r) => setTimeout(r, 10));
      while (replies.length > 0) replies.shift()!();
      await new Promise((r) => setTimeout(r, 10));
    },
    data: () => qc!.getQueryData<string>(["files", "list", "/home/a/Archive"]),
    fresh: () => !observer.getCurrentResult().isStale,
    unsubscribe,
  };
}

test("invalidateQueries alone keeps the answer from before the move, as fresh data (why refreshQueries exists)", async () => {
  const l = slowListing();
  l.move();
  const invalidated = l.qc.invalidateQueries({ queryKey: ["files"] });
  await l.deliver();
  await invalidated;
  await l.deliver();
  expect(l.data()).toBe("empty");
  expect(l.fresh()).toBe(true);
  l.unsubscribe();
});

test("refreshQueries drops the answer in flight and fetches again", async () => {
  const l = slowListing();
  l.move();
  const refreshed = refreshQueries(l.qc, { queryKey: ["files"] });
  await l.deliver();
  await refreshed;
  await l.deliver();
  expect(l.data()).toBe("final.txt");
  l.unsubscribe();
});
