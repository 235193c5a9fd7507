// Test fixtures: seeded chunk ids and clusters.

import type { NodeStatus, PlacementNode, Policy } from "../types.ts";
import type { Rng } from "@cumulus/testing/prng";

export function randomChunkId(rng: Rng): string {
  let s = "";
  for (let i = 0; i < 8; i++) s += rng.u32().toString(16).padStart(8, "0");
  return s;
}

export function randomChunkIds(rng: Rng, count: number): string[] {
  return Array.from({ length: count }, () => randomChunkId(rng));
}

export function randomNodeId(rng: Rng): string {
  // UUID-shaped, like the ids the control plane assigns.
  const h = randomChunkId(rng);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function node(
  id: string,
  site: string,
  opts: { weight?: number; status?: NodeStatus; name?: string } = {},
): PlacementNode {
  return { id, name: opts.name ?? `name-${id}`, site, weight: opts.weight ?? 1e12, status: opts.status ?? "active" };
}

/** `perSite[i]` active equal-weight nodes in site `site-i`, with random UUID ids. */
export function cluster(rng: Rng, perSite: number[], weight = 4e12): PlacementNode[] {
  const nodes: PlacementNode[] = [];
  perSite.forEach((count, s) => {
    for (let i = 0; i < count; i++) nodes.push(node(randomNodeId(rng), `site-${s}`, { weight, name: `s${s}-n${i}` }));
  });
  return nodes;
}

export function policy(p: Partial<Policy> = {}): Policy {
  return { replicas: 2, requiredSites: [], allowedSites: [], pinnedNodes: [], ...p };
}

export function shuffled<T>(rng: Rng, items: readonly T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
