import type { ChunkHandle, ChunkStore } from "../store/chunk-store.ts";

/**
 * The data API's view of the store: a chunk someone holds a valid read capability for
 * but that is not here is a replica the control plane counts and this node lost, so the
 * miss is reported. (Only the read path uses this wrapper: the replicator's "do I have it
 * already?" probe is not a miss.)
 */
export function reportMisses(store: ChunkStore, onMissing: (id: string) => void): ChunkStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === "open") {
        return async (id: string): Promise<ChunkHandle | null> => {
          const handle = await target.open(id);
          if (handle === null) onMissing(id);
          return handle;
        };
      }
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
