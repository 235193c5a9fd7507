import type { InvalidateQueryFilters, QueryClient } from "@tanstack/react-query";

/**
 * After a mutation, what the cache holds under `filters` is out of date: cancel the fetches
 * in flight, then invalidate. invalidateQueries alone does not restart a fetch of a query
 * that has no data yet (TanStack Query joins the one in flight), and that fetch, which the
 * server may have answered before the mutation committed, then lands as fresh data: a
 * folder picked in the Move dialog showed empty after the file was moved into it.
 */
export async function refreshQueries(qc: QueryClient, filters: InvalidateQueryFilters): Promise<void> {
  await qc.cancelQueries(filters);
  await qc.invalidateQueries(filters);
}
