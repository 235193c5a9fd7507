import { describe, expect, test } from "vitest";
import { createPlacer, placeReplicas } from "./place.ts";
import { rankNodes } from "./rendezvous.ts";
import { cluster, node, policy, randomChunkId, randomChunkIds, randomNodeId, shuffled } from "./testing/fixtures.ts";
import { BASE_SEED, createRng, withSeed, type Rng } from "@cumulus/testing/prng";
import type { NodeStatus, PlacementNode, Policy } from "./types.ts";

const CHUNK = "0123456789abcdef".repeat(4);
const ids = (nodes: readonly PlacementNode[]) => nodes.map((n) => n.id);

describe("basic rules", () => {
  const rng = createRng(BASE_SEED + 10);
  const nodes = cluster(rng, [3, 3, 2]);

  test("deterministic and independent of node order", () => {
    withSeed(BASE_SEED + 11, (r) => {
      for (const id of randomChunkIds(r, 200)) {
        const p = policy({ replicas: 3 });
        const a = placeReplicas(id, nodes, p);
        expect(placeReplicas(id, nodes, p)).toEqual(a);
        expect(placeReplicas(id, shuffled(r, nodes), p)).toEqual(a);
      }
    });
  });

  test("places exactly `replicas` distinct nodes when possible", () => {
    for (let replicas = 1; replicas <= nodes.length; replicas++) {
      const res = placeReplicas(CHUNK, nodes, policy({ replicas }));
      expect(res.nodes).toHaveLength(replicas);
      expect(new Set(ids(res.nodes)).size).toBe(replicas);
      expect(res.shortfall).toBe(0);
      expect(res.reasons).toBeUndefined();
    }
  });

  test("only active nodes receive replicas", () => {
    const statuses: NodeStatus[] = ["draining", "down", "decommissioned"];
    const mixed = nodes.map((n, i) => (i % 2 === 0 ? { ...n, status: statuses[i % 3]! } : n));
    const active = new Set(ids(mixed.filter((n) => n.status === "active")));
    withSeed(BASE_SEED + 12, (r) => {
      for (const id of randomChunkIds(r, 300)) {
        const res = placeReplicas(id, mixed, policy({ replicas: 3 }));
        expect(res.nodes).toHaveLength(3);
        for (const n of res.nodes) expect(active.has(n.id)).toBe(true);
      }
    });
  });

  test("full nodes receive no replicas, and a pinned full node is named as full", () => {
    const full = nodes.map((n, i) => (i < 3 ? { ...n, full: true } : n));
    const roomy = new Set(ids(full.filter((n) => !n.full)));
    withSeed(BASE_SEED + 14, (r) => {
      for (const id of randomChunkIds(r, 300)) {
        const res = placeReplicas(id, full, policy({ replicas: 3 }));
        expect(res.nodes).toHaveLength(3);
        for (const n of res.nodes) expect(roomy.has(n.id)).toBe(true);
      }
    });
    const pinned = placeReplicas(CHUNK, full, policy({ replicas: 2, pinnedNodes: [full[0]!.id] }));
    expect(pinned.reasons).toEqual([`pinned node "${full[0]!.id}" is full; not placed`]);
  });

  test("nodes with invalid weight are never chosen", () => {
    const bad = [node("zero", "a", { weight: 0 }), node("nan", "a", { weight: Number.NaN }), node("ok", "a")];
    const res = placeReplicas(CHUNK, bad, policy({ replicas: 2 }));
    expect(ids(res.nodes)).toEqual(["ok"]);
    expect(res.shortfall).toBe(1);
  });

  test("respects allowedSites", () => {
    withSeed(BASE_SEED + 13, (r) => {
      for (const id of randomChunkIds(r, 300)) {
        const res = placeReplicas(id, nodes, policy({ replicas: 4, allowedSites: ["site-0", "site-2"] }));
        expect(res.nodes).toHaveLength(4);
        for (const n of res.nodes) expect(["site-0", "site-2"]).toContain(n.site);
      }
    });
  });

  test("requiredSites get their best-ranked node, even with replicas 1 of another site preferred", () => {
    withSeed(BASE_SEED + 14, (r) => {
      for (const id of randomChunkIds(r, 300)) {
        const res = placeReplicas(id, nodes, policy({ replicas: 2, requiredSites: ["site-2"] }));
        const bestInSite2 = rankNodes(id, nodes).find((n) => n.site === "site-2")!;
        expect(res.nodes[0]).toBe(bestInSite2);
        expect(res.nodes).toHaveLength(2);
        expect(res.nodes[1]!.site).not.toBe("site-2");
      }
    });
  });

  test("spreads replicas across sites first", () => {
    withSeed(BASE_SEED + 15, (r) => {
      const twoSites = cluster(r, [5, 5]);
      for (const id of randomChunkIds(r, 500)) {
        const two = placeReplicas(id, twoSites, policy({ replicas: 2 }));
        expect(new Set(two.nodes.map((n) => n.site)).size).toBe(2);
        const three = placeReplicas(id, twoSites, policy({ replicas: 3 }));
        expect(new Set(three.nodes.map((n) => n.site)).size).toBe(2);
        // The first pick is the overall HRW winner; spreading only affects later picks.
        expect(three.nodes[0]).toBe(rankNodes(id, twoSites)[0]);
      }
    });
  });

  test("spreads over every site before doubling up", () => {
    const res = placeReplicas(CHUNK, nodes, policy({ replicas: 5 }));
    expect(new Set(res.nodes.slice(0, 3).map((n) => n.site)).size).toBe(3);
  });
});

describe("pins", () => {
  const nodes = [
    node("a1", "a", { name: "alpha-1" }),
    node("a2", "a", { name: "alpha-2" }),
    node("b1", "b", { name: "beta-1" }),
    node("b2", "b", { name: "beta-2", status: "draining" }),
    node("c1", "c", { name: "gamma-1" }),
  ];

  test("pinned nodes come first, by id or name, in policy order", () => {
    const res = placeReplicas(CHUNK, nodes, policy({ replicas: 3, pinnedNodes: ["gamma-1", "a2"] }));
    expect(ids(res.nodes).slice(0, 2)).toEqual(["c1", "a2"]);
    expect(res.nodes).toHaveLength(3);
    expect(res.nodes[2]!.site).toBe("b"); // the only unused site
    expect(res.shortfall).toBe(0);
  });

  test("a node pinned by both id and name gets one replica", () => {
    const res = placeReplicas(CHUNK, nodes, policy({ replicas: 2, pinnedNodes: ["a1", "alpha-1"] }));
    expect(res.nodes[0]!.id).toBe("a1");
    expect(new Set(ids(res.nodes)).size).toBe(2);
  });

  test("ineligible and unknown pins are skipped with a reason", () => {
    const res = placeReplicas(CHUNK, nodes, policy({ replicas: 2, pinnedNodes: ["b2", "nope"], allowedSites: [] }));
    expect(ids(res.nodes)).not.toContain("b2");
    expect(res.nodes).toHaveLength(2);
    expect(res.shortfall).toBe(0);
    expect(res.reasons).toEqual([
      'pinned node "b2" is draining; not placed',
      'pinned node "nope" matches no node id or name',
    ]);
    const outside = placeReplicas(CHUNK, nodes, policy({ replicas: 1, pinnedNodes: ["c1"], allowedSites: ["a"] }));
    expect(outside.nodes[0]!.site).toBe("a");
    expect(outside.reasons).toEqual(['pinned node "c1" is in site "c", outside allowedSites; not placed']);
  });

  test("more pins than replicas: every pin still holds a replica", () => {
    const res = placeReplicas(CHUNK, nodes, policy({ replicas: 1, pinnedNodes: ["a1", "b1"] }));
    expect(ids(res.nodes)).toEqual(["a1", "b1"]);
    expect(res.shortfall).toBe(0);
    expect(res.reasons?.[0]).toMatch(/2 pinned nodes exceed replicas \(1\)/);
  });
});

describe("shortfall", () => {
  test("not enough eligible nodes", () => {
    const nodes = [node("a1", "a"), node("a2", "a", { status: "down" }), node("b1", "b")];
    const res = placeReplicas(CHUNK, nodes, policy({ replicas: 4 }));
    expect(res.nodes).toHaveLength(2);
    expect(res.shortfall).toBe(2);
    expect(res.reasons).toEqual(["only 2 eligible node(s) for 4 replicas"]);
  });

  test("no eligible nodes at all", () => {
    const res = placeReplicas(CHUNK, [], policy({ replicas: 3 }));
    expect(res).toEqual({ nodes: [], shortfall: 3, reasons: ["only 0 eligible node(s) for 3 replicas"] });
  });

  test("required site without eligible nodes counts even when the replica count is met", () => {
    const nodes = [node("a1", "a"), node("a2", "a"), node("b1", "b", { status: "down" })];
    const res = placeReplicas(CHUNK, nodes, policy({ replicas: 2, requiredSites: ["b"] }));
    expect(res.nodes).toHaveLength(2);
    expect(res.shortfall).toBe(1);
    expect(res.reasons).toEqual(['required site "b" has no eligible node']);
    const notAllowed = placeReplicas(CHUNK, nodes, policy({ replicas: 1, requiredSites: ["b"], allowedSites: ["a"] }));
    expect(notAllowed.shortfall).toBe(1);
    expect(notAllowed.reasons).toEqual(['required site "b" is not in allowedSites']);
  });

  test("shortfall is max(missing replicas, unsatisfied sites)", () => {
    const res = placeReplicas(CHUNK, [node("a1", "a")], policy({ replicas: 3, requiredSites: ["a", "b"] }));
    expect(ids(res.nodes)).toEqual(["a1"]);
    expect(res.shortfall).toBe(2);
  });

  test("more required sites than replicas: each still gets a replica", () => {
    const nodes = [node("a1", "a"), node("b1", "b"), node("c1", "c")];
    const res = placeReplicas(CHUNK, nodes, policy({ replicas: 1, requiredSites: ["a", "b", "c"] }));
    expect(ids(res.nodes)).toEqual(["a1", "b1", "c1"]);
    expect(res.shortfall).toBe(0);
    expect(res.reasons).toEqual(["pins and required sites need 3 replicas, more than replicas (1)"]);
  });

  test("invalid replicas throws, duplicate node ids are ignored", () => {
    expect(() => placeReplicas(CHUNK, [], policy({ replicas: 0 }))).toThrow(RangeError);
    expect(() => placeReplicas(CHUNK, [], policy({ replicas: 17 }))).toThrow(RangeError);
    expect(() => placeReplicas(CHUNK, [], policy({ replicas: 1.5 }))).toThrow(RangeError);
    const res = placeReplicas(CHUNK, [node("a1", "a"), node("a1", "b")], policy({ replicas: 2 }));
    expect(res.nodes).toHaveLength(1);
    expect(res.reasons).toContain('duplicate node id "a1" ignored');
  });
});

function randomCluster(rng: Rng): PlacementNode[] {
  const statuses: NodeStatus[] = ["active", "active", "active", "active", "draining", "down", "decommissioned"];
  const sites = 1 + rng.int(5);
  return Array.from({ length: rng.int(14) }, (_, i) =>
    node(randomNodeId(rng), `s${rng.int(sites)}`, {
      name: `n${i}`,
      weight: 1e11 * (1 + rng.int(40)),
      status: statuses[rng.int(statuses.length)]!,
    }),
  );
}

function randomPolicy(rng: Rng, nodes: PlacementNode[]): Policy {
  const sites = ["s0", "s1", "s2", "s3", "s4", "s9"];
  const subset = (items: string[], p: number) => items.filter(() => rng.float() < p);
  return policy({
    replicas: 1 + rng.int(5),
    requiredSites: subset(sites, 0.15),
    allowedSites: rng.float() < 0.5 ? [] : subset(sites, 0.6),
    pinnedNodes:
      rng.float() < 0.7 ? [] : subset([...nodes.map((n) => (rng.float() < 0.5 ? n.id : n.name)), "ghost"], 0.2),
  });
}

describe("randomized invariants", () => {
  test("for random clusters and policies", () => {
    for (let k = 0; k < 400; k++) {
      withSeed(BASE_SEED + 1000 + k, (rng) => {
        const nodes = randomCluster(rng);
        const p = randomPolicy(rng, nodes);
        const chunk = randomChunkId(rng);
        const res = placeReplicas(chunk, nodes, p);
        expect(createPlacer(shuffled(rng, nodes), p)(chunk)).toEqual(res);
        const eligible = nodes.filter(
          (n) => n.status === "active" && (p.allowedSites.length === 0 || p.allowedSites.includes(n.site)),
        );
        const eligibleSites = new Set(eligible.map((n) => n.site));
        const chosenIds = ids(res.nodes);

        expect(new Set(chosenIds).size, "distinct nodes").toBe(chosenIds.length);
        for (const n of res.nodes) expect(eligible, "only eligible nodes").toContain(n);

        const pinned = eligible.filter((n) => p.pinnedNodes.includes(n.id) || p.pinnedNodes.includes(n.name));
        const pinnedIds = new Set(ids(pinned));
        expect(new Set(chosenIds.slice(0, pinnedIds.size)), "pins first").toEqual(pinnedIds);

        const unsatisfied = p.requiredSites.filter((s) => !eligibleSites.has(s));
        for (const s of p.requiredSites) {
          if (eligibleSites.has(s))
            expect(
              res.nodes.some((n) => n.site === s),
              `required site ${s}`,
            ).toBe(true);
        }
        if (res.nodes.length > p.replicas) {
          // Only hard constraints may exceed the replica count: no filler nodes.
          for (const n of res.nodes) {
            expect(pinnedIds.has(n.id) || p.requiredSites.includes(n.site), "extra node is pinned or required").toBe(
              true,
            );
          }
        } else {
          expect(res.nodes.length).toBe(Math.min(p.replicas, eligible.length));
        }
        expect(res.shortfall).toBe(Math.max(p.replicas - res.nodes.length, unsatisfied.length, 0));
        if (res.shortfall === 0 && !res.reasons) expect(res.nodes.length).toBe(p.replicas);

        if (p.pinnedNodes.length === 0) {
          // Maximal site diversity: as many sites as possible are used.
          expect(new Set(res.nodes.map((n) => n.site)).size).toBe(Math.min(res.nodes.length, eligibleSites.size));
          if (p.requiredSites.length === 0 && res.nodes.length > 0) {
            expect(res.nodes[0]).toBe(rankNodes(chunk, eligible)[0]);
          }
        }
      });
    }
  });
});

describe("minimal movement", () => {
  const CHUNKS = 100_000;

  /** Placement of every chunk as ordered id lists. */
  function placeAll(chunks: string[], nodes: PlacementNode[], p: Policy): string[][] {
    const place = createPlacer(nodes, p);
    return chunks.map((c) => ids(place(c).nodes));
  }

  function checkJoin(
    rng: Rng,
    perSite: number[],
    joinSite: number,
    replicas: number,
    count = CHUNKS,
  ): { chunkFraction: number; replicaFraction: number } {
    const before = cluster(rng, perSite);
    const joiner = node(randomNodeId(rng), `site-${joinSite}`, { weight: before[0]!.weight });
    const after = [...before, joiner];
    const p = policy({ replicas });
    const chunks = randomChunkIds(rng, count);
    const a = placeAll(chunks, before, p);
    const b = placeAll(chunks, after, p);
    let changedChunks = 0;
    let movedReplicas = 0;
    const violations: string[] = [];
    for (let i = 0; i < chunks.length; i++) {
      const oldSet = new Set(a[i]);
      const added = b[i]!.filter((id) => !oldSet.has(id));
      if (added.length === 0) {
        // Unchanged chunks keep their pipeline order too.
        if (b[i]!.join() !== a[i]!.join()) violations.push(`chunk ${chunks[i]}: order changed`);
        continue;
      }
      changedChunks++;
      movedReplicas += added.length;
      // Only onto the new node, replacing exactly one replica.
      const removed = a[i]!.filter((id) => !b[i]!.includes(id));
      if (added.length !== 1 || added[0] !== joiner.id || removed.length !== 1) {
        violations.push(`chunk ${chunks[i]}: ${a[i]!.join()} -> ${b[i]!.join()}`);
      }
    }
    expect(violations.slice(0, 5)).toEqual([]);
    return { chunkFraction: changedChunks / count, replicaFraction: movedReplicas / (count * replicas) };
  }

  test("a node joining a single-site cluster moves the ideal share (N=10 -> 11, 3 replicas)", () => {
    withSeed(BASE_SEED + 20, (rng) => {
      const { chunkFraction, replicaFraction } = checkJoin(rng, [10], 0, 3);
      // Ideal: the new node ends up in replicas/(N+1) of the chunks, i.e. 1/(N+1) of the chunk-replicas.
      expect(chunkFraction).toBeGreaterThan(3 / 11 - 0.01);
      expect(chunkFraction).toBeLessThan(3 / 11 + 0.01);
      expect(replicaFraction).toBeGreaterThan(1 / 11 - 0.005);
      expect(replicaFraction).toBeLessThan(1 / 11 + 0.005);
    });
  });

  test("a node joining a multi-site cluster only moves replicas onto itself", () => {
    withSeed(BASE_SEED + 21, (rng) => {
      // Balanced sites: the new node in site 1 takes 1/(2*5) of the site-1 replica per chunk at most.
      const { chunkFraction } = checkJoin(rng, [4, 4, 4], 1, 2, 40_000);
      expect(chunkFraction).toBeGreaterThan(0.05);
      expect(chunkFraction).toBeLessThan(0.3);
      // More replicas than sites, unbalanced sites.
      checkJoin(rng, [2, 5], 0, 4, 30_000);
      checkJoin(rng, [1, 3, 6], 2, 3, 30_000);
    });
  });

  test("a node leaving only changes chunks that had a replica on it", () => {
    withSeed(BASE_SEED + 22, (rng) => {
      for (const [perSite, replicas] of [
        [[10], 3],
        [[4, 3, 3], 2],
        [[2, 5], 4],
      ] as const) {
        const before = cluster(rng, [...perSite]);
        const p = policy({ replicas });
        const chunks = randomChunkIds(rng, 20_000);
        const a = placeAll(chunks, before, p);
        const leaver = before[rng.int(before.length)]!;
        // A node marked down must behave exactly like a node removed from the list.
        const downList = before.map((n) => (n === leaver ? { ...n, status: "down" as const } : n));
        const b = placeAll(
          chunks,
          before.filter((n) => n !== leaver),
          p,
        );
        expect(placeAll(chunks, downList, p)).toEqual(b);
        let affected = 0;
        const violations: string[] = [];
        for (let i = 0; i < chunks.length; i++) {
          if (!a[i]!.includes(leaver.id)) {
            if (b[i]!.join() !== a[i]!.join())
              violations.push(`chunk ${chunks[i]}: ${a[i]!.join()} -> ${b[i]!.join()}`);
          } else {
            affected++;
            // The surviving replicas stay; exactly one new node replaces the leaver.
            const survivors = a[i]!.filter((id) => id !== leaver.id);
            if (!survivors.every((id) => b[i]!.includes(id)) || b[i]!.length !== a[i]!.length) {
              violations.push(`chunk ${chunks[i]}: ${a[i]!.join()} -> ${b[i]!.join()}`);
            }
          }
        }
        expect(violations.slice(0, 5)).toEqual([]);
        expect(affected).toBeGreaterThan(0);
      }
    });
  });

  test("a leaving node held (so moves) about 1/N of the chunk-replicas", () => {
    withSeed(BASE_SEED + 23, (rng) => {
      const before = cluster(rng, [12]);
      const p = policy({ replicas: 2 });
      const chunks = randomChunkIds(rng, 30_000);
      const leaver = before[5]!;
      const a = placeAll(chunks, before, p);
      const moved = a.filter((set) => set.includes(leaver.id)).length;
      expect(moved / (chunks.length * 2)).toBeGreaterThan(1 / 12 - 0.01);
      expect(moved / (chunks.length * 2)).toBeLessThan(1 / 12 + 0.01);
    });
  });

  test("replica shares follow weights (1 replica, 100k chunks)", () => {
    withSeed(BASE_SEED + 24, (rng) => {
      const weights = [1, 1, 2, 4, 8];
      const nodes = weights.map((w, i) => node(randomNodeId(rng), `site-${i % 2}`, { weight: w * 1e12 }));
      const counts = new Map<string, number>();
      const N = 100_000;
      for (const c of randomChunkIds(rng, N)) {
        const id = placeReplicas(c, nodes, policy({ replicas: 1 })).nodes[0]!.id;
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      const total = weights.reduce((x, y) => x + y, 0);
      nodes.forEach((n, i) => {
        const p = weights[i]! / total;
        expect(Math.abs((counts.get(n.id) ?? 0) / N - p)).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / N));
      });
    });
  });

  test("replica shares with 2 replicas in one site stay close to weights for moderate ratios", () => {
    withSeed(BASE_SEED + 25, (rng) => {
      const weights = [1, 1, 1, 2, 2, 3];
      const nodes = weights.map((w) => node(randomNodeId(rng), "site-0", { weight: w * 1e12 }));
      const counts = new Map<string, number>();
      const N = 40_000;
      for (const c of randomChunkIds(rng, N)) {
        for (const n of placeReplicas(c, nodes, policy({ replicas: 2 })).nodes)
          counts.set(n.id, (counts.get(n.id) ?? 0) + 1);
      }
      const total = weights.reduce((x, y) => x + y, 0);
      nodes.forEach((n, i) => {
        const ideal = weights[i]! / total;
        const share = (counts.get(n.id) ?? 0) / (2 * N);
        // A node holds at most one replica per chunk, which pulls heavy nodes
        // slightly below their weight share; within 20% relative here.
        expect(Math.abs(share - ideal) / ideal, `weight ${weights[i]}`).toBeLessThan(0.2);
      });
    });
  });
});
