// Replica placement for one chunk: pins, then required sites, then
// site-diverse filling, all in weighted-rendezvous preference order.

import { MAX_REPLICAS, MIN_REPLICAS } from "./policy.ts";
import { chunkKey, nodePrefixOf, unitFromPrefix, weightedScore } from "./rendezvous.ts";
import type { PlacementNode, PlacementResult, Policy } from "./types.ts";

function ineligibility(node: PlacementNode, allowed: ReadonlySet<string> | null): string | null {
  if (node.status !== "active") return `is ${node.status}`;
  if (node.full === true) return "is full";
  if (!(node.weight > 0) || !Number.isFinite(node.weight)) return `has invalid weight ${node.weight}`;
  if (allowed && !allowed.has(node.site)) return `is in site "${node.site}", outside allowedSites`;
  return null;
}

export type Placer = (chunkId: string) => PlacementResult;

/**
 * Prepares placement for a fixed node list and policy: eligibility, node
 * hashes and pin resolution are computed once, so placing millions of chunks
 * (rebalancing, repair scans) costs only the per-chunk scoring. The returned
 * function gives exactly what placeReplicas would.
 *
 * Eligible nodes: status "active" (draining/down/decommissioned never receive
 * new replicas), not `full`, positive finite weight, site in allowedSites (when
 * non-empty). Node order in `nodes` does not matter.
 *
 * Order of choice, which is also the returned write-pipeline order:
 * 1. pinned nodes (matched by id, else by name), in policy order, when eligible;
 * 2. for each required site not yet covered, its best-ranked eligible node;
 * 3. until `replicas` nodes are chosen: the best-ranked node in a site not
 *    used yet, else the best-ranked remaining node.
 * Pins and required sites are hard constraints: if they need more nodes than
 * `replicas`, they all still get one (noted in `reasons`).
 *
 * Rank = weighted rendezvous score for the chunk. Every step takes "the
 * best-ranked node satisfying a condition that does not depend on the other
 * nodes' scores", so adding a node only changes chunks where the new node wins
 * a step (it then replaces exactly one replica), and removing a node only
 * changes chunks that had a replica on it (the others stay).
 */
export function createPlacer(nodes: readonly PlacementNode[], policy: Policy): Placer {
  const want = policy.replicas;
  if (!Number.isInteger(want) || want < MIN_REPLICAS || want > MAX_REPLICAS) {
    throw new RangeError(`replicas must be an integer from ${MIN_REPLICAS} to ${MAX_REPLICAS}, got ${want}`);
  }
  const staticReasons: string[] = [];
  const allowed = policy.allowedSites.length > 0 ? new Set(policy.allowedSites) : null;

  const unique: PlacementNode[] = [];
  const seenIds = new Set<string>();
  for (const n of nodes) {
    if (seenIds.has(n.id)) {
      staticReasons.push(`duplicate node id "${n.id}" ignored`);
      continue;
    }
    seenIds.add(n.id);
    unique.push(n);
  }

  const elig = unique.filter((n) => ineligibility(n, allowed) === null);
  const count = elig.length;
  const indexOf =
    policy.pinnedNodes.length > 0 ? new Map(elig.map((n, i) => [n, i])) : new Map<PlacementNode, number>();
  const prefixA = new Int32Array(count);
  const prefixB = new Int32Array(count);
  const weights = new Float64Array(count);
  elig.forEach((n, i) => {
    const p = nodePrefixOf(n.id);
    prefixA[i] = p.a;
    prefixB[i] = p.b;
    weights[i] = n.weight;
  });

  // Pins resolve to the same node set for every chunk; only the choice among
  // several eligible nodes sharing a pinned name depends on the chunk.
  const pinGroups: number[][] = [];
  for (const pin of policy.pinnedNodes) {
    let matches = unique.filter((n) => n.id === pin);
    if (matches.length === 0) matches = unique.filter((n) => n.name === pin);
    if (matches.length === 0) {
      staticReasons.push(`pinned node "${pin}" matches no node id or name`);
      continue;
    }
    const eligibleMatches = matches.flatMap((n) => {
      const i = indexOf.get(n);
      return i === undefined ? [] : [i];
    });
    if (eligibleMatches.length > 0) {
      pinGroups.push(eligibleMatches);
    } else {
      staticReasons.push(
        `pinned node "${pin}" ${ineligibility(matches[0]!, allowed) ?? "is not eligible"}; not placed`,
      );
    }
  }
  const requiredSites = [...new Set(policy.requiredSites)];

  // Scratch buffers reused across calls (placement is synchronous).
  const scores = new Float64Array(count);
  const taken = new Uint8Array(count);

  const better = (i: number, j: number): boolean =>
    j < 0 || scores[i]! > scores[j]! || (scores[i] === scores[j] && elig[i]!.id < elig[j]!.id);

  return (chunkId: string): PlacementResult => {
    const ck = chunkKey(chunkId);
    for (let i = 0; i < count; i++) {
      scores[i] = weightedScore(unitFromPrefix(prefixA[i]!, prefixB[i]!, ck), weights[i]!);
    }
    taken.fill(0);
    const reasons = staticReasons.slice();
    const chosen: PlacementNode[] = [];
    const usedSites = new Set<string>();
    const choose = (i: number): void => {
      taken[i] = 1;
      chosen.push(elig[i]!);
      usedSites.add(elig[i]!.site);
    };

    // 1. Pins.
    for (const group of pinGroups) {
      let b = -1;
      let already = false;
      for (const i of group) {
        if (taken[i] !== 0)
          already = true; // pinned twice, e.g. by id and by name
        else if (better(i, b)) b = i;
      }
      if (!already && b >= 0) choose(b);
    }
    const pinnedCount = chosen.length;
    if (pinnedCount > want) {
      reasons.push(`${pinnedCount} pinned nodes exceed replicas (${want}); every pinned node holds a replica`);
    }

    // 2. Required sites.
    let unsatisfiedSites = 0;
    for (const site of requiredSites) {
      if (usedSites.has(site)) continue;
      let b = -1;
      for (let i = 0; i < count; i++) if (taken[i] === 0 && elig[i]!.site === site && better(i, b)) b = i;
      if (b >= 0) {
        choose(b);
      } else {
        unsatisfiedSites++;
        reasons.push(
          allowed && !allowed.has(site)
            ? `required site "${site}" is not in allowedSites`
            : `required site "${site}" has no eligible node`,
        );
      }
    }
    if (chosen.length > want && chosen.length > pinnedCount) {
      reasons.push(`pins and required sites need ${chosen.length} replicas, more than replicas (${want})`);
    }

    // 3. Fill, spreading over sites first. Linear scans rather than a sort:
    // at most 16 picks, so O(nodes * replicas) without per-node allocation.
    while (chosen.length < want) {
      let fresh = -1;
      let any = -1;
      for (let i = 0; i < count; i++) {
        if (taken[i] !== 0) continue;
        if (better(i, any)) any = i;
        if (better(i, fresh) && !usedSites.has(elig[i]!.site)) fresh = i;
      }
      const pick = fresh >= 0 ? fresh : any;
      if (pick < 0) break;
      choose(pick);
    }

    const missing = Math.max(0, want - chosen.length);
    if (missing > 0) reasons.push(`only ${count} eligible node(s) for ${want} replicas`);
    const result: PlacementResult = { nodes: chosen, shortfall: Math.max(missing, unsatisfiedSites) };
    if (reasons.length > 0) result.reasons = reasons;
    return result;
  };
}

/** Chooses the nodes that should hold replicas of `chunkId`; see createPlacer for the rules. */
export function placeReplicas(chunkId: string, nodes: readonly PlacementNode[], policy: Policy): PlacementResult {
  return createPlacer(nodes, policy)(chunkId);
}
