const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/**
 * Free space under which a node takes no new replicas: 2 % of its capacity, at least
 * 64 MiB (a few chunks in flight) and at most 8 GiB (a big disk needs no more headroom
 * than a few seconds of writes between heartbeats). Like Ceph's "backfillfull", it stops
 * new data only: what the node holds stays and is served.
 */
export function fullBelowBytes(capacityBytes: number): number {
  return Math.min(8 * GiB, Math.max(64 * MiB, Math.floor(capacityBytes * 0.02)));
}

/** A node that reported its free space and has less than fullBelowBytes left. */
export function isFull(n: { capacityBytes: bigint | number; availableBytes: bigint | number | null }): boolean {
  if (n.availableBytes === null) return false;
  return Number(n.availableBytes) < fullBelowBytes(Number(n.capacityBytes));
}
