import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { placeReplicas } from "@cumulus/placement/place";
import type { Policy } from "@cumulus/placement/types";
import {
  admit,
  DEFAULT_LIMITS,
  PlacerCache,
  placementNodes,
  planChunks,
  taskKey,
  type Limits,
  type OutstandingTask,
  type PlanChunk,
  type PlanNode,
  type Task,
} from "./plan.ts";

// Seeded randomized tests of the reconciler's decisions: the seed is printed in every
// failure message; replay one with TEST_SEED=N.

function rng(seed: number) {
  let a = seed >>> 0 || 1;
  const next = () => {
    // mulberry32
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    float: next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
  };
}
type Rng = ReturnType<typeof rng>;

const SEEDS = process.env.TEST_SEED
  ? [Number(process.env.TEST_SEED)]
  : Array.from({ length: 25 }, (_, i) => (Date.now() + i * 7919) % 2 ** 31);

function uuid(r: Rng): string {
  const h = createHash("sha256").update(String(r.float())).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function chunkId(r: Rng): string {
  return createHash("sha256").update(String(r.float())).digest("hex");
}

const SITES = ["hq", "branch", "dr"];

function randomNodes(r: Rng, n: number): PlanNode[] {
  return Array.from({ length: n }, (_, i) => {
    const roll = r.float();
    const status = roll < 0.12 ? "draining" : roll < 0.25 ? "down" : "active";
    return {
      id: uuid(r),
      name: `n${i}`,
      site: SITES[i % SITES.length]!,
      weight: 1e12,
      status,
      live: status !== "down",
      epoch: 1 + r.int(3),
    } satisfies PlanNode;
  });
}

function randomPolicy(r: Rng): Policy {
  const replicas = 1 + r.int(3);
  const roll = r.float();
  if (roll < 0.15)
    return { replicas: Math.max(2, replicas), requiredSites: ["hq", "branch"], allowedSites: [], pinnedNodes: [] };
  if (roll < 0.25) return { replicas, requiredSites: [], allowedSites: ["hq", "dr"], pinnedNodes: [] };
  return { replicas, requiredSites: [], allowedSites: [], pinnedNodes: [] };
}

function randomChunks(r: Rng, nodes: PlanNode[], n: number): PlanChunk[] {
  return Array.from({ length: n }, () => {
    const referenced = r.float() > 0.1;
    const holders = nodes.filter(() => r.float() < 0.35);
    return {
      id: chunkId(r),
      size: 1 + r.int(4 << 20),
      policy: referenced ? randomPolicy(r) : null,
      protected: !referenced && r.float() < 0.5,
      replicas: holders.map((h) => {
        const s = r.float();
        return {
          nodeId: h.id,
          state: s < 0.08 ? "corrupt" : s < 0.12 ? "deleting" : "stored",
          // Mostly confirmed at the node's epoch; some wait for its inventory.
          epoch: r.float() < 0.9 ? h.epoch : h.epoch - 1,
        } as const;
      }),
    };
  });
}

function liveCount(c: PlanChunk, nodes: readonly PlanNode[]): number {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  return c.replicas.filter((x) => {
    const n = byId.get(x.nodeId);
    return x.state === "stored" && n?.live && x.epoch === n.epoch;
  }).length;
}

/** Applies tasks as if they all succeeded (copies become confirmed replicas). */
function apply(chunks: PlanChunk[], nodes: readonly PlanNode[], tasks: readonly Task[]): void {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const byChunk = new Map(chunks.map((c) => [c.id, c]));
  for (const t of tasks) {
    const c = byChunk.get(t.chunk)!;
    if (t.kind === "copy") {
      c.replicas = c.replicas.filter((x) => x.nodeId !== t.target);
      c.replicas.push({ nodeId: t.target, state: "stored", epoch: byId.get(t.target)!.epoch });
    } else {
      c.replicas = c.replicas.filter((x) => x.nodeId !== t.node);
    }
  }
}

function converge(chunks: PlanChunk[], nodes: PlanNode[], limits: Limits, onRound?: (tasks: Task[]) => void): number {
  for (let round = 1; round <= 200; round++) {
    const plan = planChunks(chunks, nodes);
    const tasks = admit(plan.tasks, [], limits);
    if (tasks.length === 0) return round;
    onRound?.(tasks);
    apply(chunks, nodes, tasks);
  }
  throw new Error("did not converge in 200 rounds");
}

describe("reconciler plan (seeded random states)", () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}: safe, bounded and convergent`, () => {
      const m = `[seed ${seed}; replay with TEST_SEED=${seed}]`;
      const r = rng(seed);
      const nodes = randomNodes(r, 4 + r.int(6));
      const chunks = randomChunks(r, nodes, 40 + r.int(80));
      const byId = new Map(nodes.map((n) => [n.id, n]));
      const before = new Map(chunks.map((c) => [c.id, liveCount(c, nodes)]));
      const limits: Limits = {
        copiesInPerNode: 1 + r.int(3),
        copiesOutPerNode: 1 + r.int(3),
        deletesPerNode: 1 + r.int(4),
        maxOutstanding: 10 + r.int(100),
      };

      // One plan: every task is well-formed.
      const plan = planChunks(chunks, nodes);
      for (const t of plan.tasks) {
        const c = chunks.find((x) => x.id === t.chunk)!;
        if (t.kind === "copy") {
          expect(c.policy, `${m} copy of unreferenced chunk`).not.toBeNull();
          const target = byId.get(t.target)!;
          expect(target.live && target.status === "active", `${m} copy onto non-eligible node`).toBe(true);
          expect(t.sources.length, m).toBeGreaterThan(0);
          for (const s of t.sources) {
            const row = c.replicas.find((x) => x.nodeId === s)!;
            expect(
              row.state === "stored" && byId.get(s)!.live && row.epoch === byId.get(s)!.epoch,
              `${m} bad source`,
            ).toBe(true);
            expect(s, m).not.toBe(t.target);
          }
        }
      }
      // Garbage is exactly the unreferenced, unprotected chunks.
      expect(new Set(plan.garbage), m).toEqual(
        new Set(chunks.filter((c) => !c.policy && !c.protected).map((c) => c.id)),
      );

      // Admission respects the per-node limits and never queues a task twice.
      const admitted = admit(plan.tasks, [], limits);
      expect(admitted.length, m).toBeLessThanOrEqual(limits.maxOutstanding);
      const keys = admitted.map(taskKey);
      expect(new Set(keys).size, m).toBe(keys.length);
      const perIn = new Map<string, number>();
      const perOut = new Map<string, number>();
      const perDel = new Map<string, number>();
      for (const t of admitted) {
        if (t.kind === "copy") {
          perIn.set(t.target, (perIn.get(t.target) ?? 0) + 1);
          perOut.set(t.sources[0]!, (perOut.get(t.sources[0]!) ?? 0) + 1);
        } else perDel.set(t.node, (perDel.get(t.node) ?? 0) + 1);
      }
      for (const v of perIn.values()) expect(v, m).toBeLessThanOrEqual(limits.copiesInPerNode);
      for (const v of perOut.values()) expect(v, m).toBeLessThanOrEqual(limits.copiesOutPerNode);
      for (const v of perDel.values()) expect(v, m).toBeLessThanOrEqual(limits.deletesPerNode);

      // Run to convergence: no chunk ever drops below min(what it had, its policy).
      converge(chunks, nodes, limits, (tasks) => {
        const snapshot = chunks.map((c) => ({ ...c, replicas: [...c.replicas] }));
        apply(
          snapshot,
          nodes,
          tasks.filter((t) => t.kind === "delete"),
        );
        for (const c of snapshot) {
          if (!c.policy) continue;
          const floor = Math.min(before.get(c.id)!, c.policy.replicas);
          expect(
            liveCount(c, nodes),
            `${m} chunk ${c.id.slice(0, 8)} dropped below ${floor} live copies`,
          ).toBeGreaterThanOrEqual(floor);
        }
      });

      // At the end: every referenced chunk that had a live copy is where placement says.
      const eligible = placementNodes(nodes);
      for (const c of chunks) {
        if (!c.policy) continue;
        const live = c.replicas.filter(
          (x) => x.state === "stored" && byId.get(x.nodeId)!.live && x.epoch === byId.get(x.nodeId)!.epoch,
        );
        if (before.get(c.id)! === 0) {
          expect(live.length, `${m} a lost chunk was resurrected`).toBe(0);
          continue;
        }
        const want = placeReplicas(c.id, eligible, c.policy).nodes.map((n) => n.id);
        const have = new Set(live.map((x) => x.nodeId));
        // A node whose row waits for its inventory is left alone until that runs.
        const waiting = new Set(c.replicas.filter((x) => x.epoch !== byId.get(x.nodeId)!.epoch).map((x) => x.nodeId));
        for (const id of want) {
          if (!waiting.has(id))
            expect(have.has(id), `${m} chunk ${c.id.slice(0, 8)} missing on desired node`).toBe(true);
        }
        if (!want.some((id) => waiting.has(id)))
          expect(live.length, `${m} chunk ${c.id.slice(0, 8)} count`).toBe(
            Math.max(want.length, Math.min(c.policy.replicas, live.length)),
          );
        // No chunk counted twice: one row per node.
        expect(new Set(c.replicas.map((x) => x.nodeId)).size, m).toBe(c.replicas.length);
      }
    });
  }
});

describe("reconciler plan (scenarios)", () => {
  const r = rng(42);
  const mk = (n: number, site = (i: number) => SITES[i % 2]!) =>
    Array.from({ length: n }, (_, i) => ({
      id: uuid(r),
      name: `n${i}`,
      site: site(i),
      weight: 1e12,
      status: "active" as const,
      live: true,
      epoch: 1,
    })) as PlanNode[];
  const chunk = (policy: Policy, holders: PlanNode[]): PlanChunk => ({
    id: chunkId(r),
    size: 1000,
    policy,
    protected: false,
    replicas: holders.map((h) => ({ nodeId: h.id, state: "stored", epoch: h.epoch })),
  });
  const two: Policy = { replicas: 2, requiredSites: [], allowedSites: [], pinnedNodes: [] };

  it("repairs the chunks with the fewest copies first, then policy work, then rebalancing, then surplus", () => {
    const nodes = mk(5);
    const cache = new PlacerCache(nodes);
    const three: Policy = { ...two, replicas: 3 };
    const oneLeft = chunk(three, [nodes[0]!]);
    const twoLeft = chunk(three, [nodes[0]!, nodes[1]!]);
    // Rebalance: right count, not where placement wants it.
    const desired = cache.place(chunkId(r), two);
    const wrong = chunk(two, nodes.filter((n) => !desired.includes(n.id)).slice(0, 2));
    const tasks = admit(planChunks([wrong, twoLeft, oneLeft], nodes).tasks, [], {
      ...DEFAULT_LIMITS,
      copiesInPerNode: 99,
      copiesOutPerNode: 99,
    });
    const order = tasks.map((t) => (t.chunk === oneLeft.id ? 1 : t.chunk === twoLeft.id ? 2 : 3));
    expect(order).toEqual([...order].sort());
    expect(tasks.filter((t) => t.chunk === oneLeft.id)).toHaveLength(2);
  });

  it("a draining node's copies move first and go only when their replacement is confirmed", () => {
    const nodes = mk(4);
    const chunks = Array.from({ length: 60 }, () => chunk(two, [nodes[0]!, nodes[1]!]));
    nodes[0]!.status = "draining";
    let rounds = 0;
    converge(chunks, nodes, DEFAULT_LIMITS, (tasks) => {
      rounds++;
      const after = chunks.map((c) => ({ ...c, replicas: [...c.replicas] }));
      apply(
        after,
        nodes,
        tasks.filter((t) => t.kind === "delete"),
      );
      for (const c of after) expect(liveCount(c, nodes)).toBeGreaterThanOrEqual(2);
    });
    expect(rounds).toBeGreaterThan(0);
    for (const c of chunks) expect(c.replicas.some((x) => x.nodeId === nodes[0]!.id)).toBe(false);
  });

  it("a full node gets no copies: repairs go to nodes with room, rebalancing onto it waits, nothing is deleted meanwhile", () => {
    const nodes = mk(4);
    const cache = new PlacerCache(nodes);
    // Chunks whose placement puts a copy on n0, which then fills up.
    const wanted: PlanChunk[] = [];
    while (wanted.length < 40) {
      const c = chunk(two, []);
      const d = cache.place(c.id, two);
      if (d.includes(nodes[0]!.id)) wanted.push({ ...c, replicas: [] });
    }
    nodes[0]!.full = true;
    // One copy left, on the other desired node: a repair, which must not target n0.
    const under = wanted.slice(0, 20).map((c) => {
      const other = cache.place(c.id, two).find((id) => id !== nodes[0]!.id)!;
      return { ...c, replicas: [{ nodeId: other, state: "stored" as const, epoch: 1 }] };
    });
    // Two copies, neither on n0: misplaced, a rebalance onto n0 that must wait.
    const misplaced = wanted.slice(20).map((c) => {
      const desired = cache.place(c.id, two);
      const holders = nodes.filter((n) => n.id !== nodes[0]!.id && !desired.includes(n.id)).slice(0, 1);
      const other = desired.find((id) => id !== nodes[0]!.id)!;
      return {
        ...c,
        replicas: [...holders.map((h) => h.id), other].map((nodeId) => ({
          nodeId,
          state: "stored" as const,
          epoch: 1,
        })),
      };
    });
    const { tasks } = planChunks([...under, ...misplaced], nodes);
    expect(tasks.filter((t) => t.kind === "copy" && t.target === nodes[0]!.id)).toEqual([]);
    expect(tasks.filter((t) => t.kind === "delete")).toEqual([]);
    for (const c of under) {
      const copies = tasks.filter((t) => t.kind === "copy" && t.chunk === c.id);
      expect(copies).toHaveLength(1);
      expect(copies[0]).toMatchObject({ reason: "repair" });
    }
    for (const c of misplaced) expect(tasks.filter((t) => t.chunk === c.id)).toEqual([]);

    // Room again: the repaired chunks' copies move onto n0, and only then go from where they were.
    nodes[0]!.full = false;
    const repaired = under.map((c) => {
      const copy = tasks.find((t) => t.kind === "copy" && t.chunk === c.id)!;
      return {
        ...c,
        replicas: [...c.replicas, { nodeId: (copy as { target: string }).target, state: "stored" as const, epoch: 1 }],
      };
    });
    const again = planChunks(repaired, nodes).tasks;
    for (const c of repaired) {
      expect(again.filter((t) => t.chunk === c.id)).toEqual([
        expect.objectContaining({ kind: "copy", target: nodes[0]!.id, reason: "rebalance" }),
      ]);
    }
  });

  it("a new node receives a fair share and only chunks placement moves are touched", () => {
    const nodes = mk(4);
    const cache = new PlacerCache(nodes);
    const chunks = Array.from({ length: 600 }, () => {
      const c = chunk(two, []);
      c.replicas = cache.place(c.id, two).map((id) => ({ nodeId: id, state: "stored" as const, epoch: 1 }));
      return c;
    });
    expect(planChunks(chunks, nodes).tasks).toEqual([]);
    const added = mk(1, () => "hq")[0]!;
    nodes.push(added);
    let copies = 0;
    converge(chunks, nodes, DEFAULT_LIMITS, (tasks) => {
      for (const t of tasks)
        if (t.kind === "copy") {
          copies++;
          expect(t.target).toBe(added.id);
        }
    });
    const onNew = chunks.filter((c) => c.replicas.some((x) => x.nodeId === added.id)).length;
    // replicas/(N+1) of the chunks: 2/5 of 600 = 240, give or take.
    expect(onNew).toBeGreaterThan(180);
    expect(onNew).toBeLessThan(300);
    expect(copies).toBe(onNew);
    for (const c of chunks) expect(c.replicas).toHaveLength(2);
  });

  it("lowering replicas keeps the copies placement ranks first and removes the rest", () => {
    const nodes = mk(4);
    const cache = new PlacerCache(nodes);
    const three: Policy = { ...two, replicas: 3 };
    const chunks = Array.from({ length: 50 }, () => {
      const c = chunk(three, []);
      c.replicas = cache.place(c.id, three).map((id) => ({ nodeId: id, state: "stored" as const, epoch: 1 }));
      c.policy = { ...two, replicas: 1 };
      return c;
    });
    const plan = planChunks(chunks, nodes);
    expect(plan.tasks.every((t) => t.kind === "delete" && t.reason === "surplus")).toBe(true);
    expect(plan.stats.over).toBe(50);
    converge(chunks, nodes, DEFAULT_LIMITS);
    for (const c of chunks) expect(c.replicas).toHaveLength(1);
  });

  it("replicas on a down node or of an old epoch do not count; a corrupt copy is replaced in place", () => {
    const nodes = mk(3);
    const cache = new PlacerCache(nodes);
    const c = chunk(two, []);
    const [a, b] = cache.place(c.id, two);
    c.replicas = [
      { nodeId: a!, state: "corrupt", epoch: 1 },
      { nodeId: b!, state: "stored", epoch: 1 },
    ];
    const heal = planChunks([c], nodes).tasks;
    expect(heal).toEqual([expect.objectContaining({ kind: "copy", target: a, sources: [b], reason: "repair" })]);

    const down = nodes.find((n) => n.id === b)!;
    down.live = false;
    down.status = "down";
    const p = planChunks([c], nodes);
    expect(p.stats.unavailable).toBe(1);
    expect(p.tasks).toEqual([]);
    down.live = true;
    down.status = "active";
    down.epoch = 2; // came back: its row waits for the inventory
    expect(planChunks([c], nodes).stats.unavailable).toBe(1);
  });

  it("never schedules work for garbage, and keeps deleting what GC marked", () => {
    const nodes = mk(3);
    const g: PlanChunk = { ...chunk(two, [nodes[0]!]), policy: null };
    g.replicas.push({ nodeId: nodes[1]!.id, state: "deleting", epoch: 1 });
    const p = planChunks([g], nodes);
    expect(p.garbage).toEqual([g.id]);
    expect(p.tasks).toEqual([expect.objectContaining({ kind: "delete", node: nodes[1]!.id, reason: "gc" })]);
  });

  it("admission spreads a dead node's chunks over all sources and skips what is queued", () => {
    const nodes = mk(6);
    const chunks = Array.from({ length: 200 }, () => {
      const holders = [0, 1, 2, 3, 4]
        .map((i) => nodes[i]!)
        .sort(() => r.float() - 0.5)
        .slice(0, 1);
      return chunk(two, holders);
    });
    const tasks = planChunks(chunks, nodes).tasks;
    const limits = { ...DEFAULT_LIMITS, copiesInPerNode: 2, copiesOutPerNode: 2 };
    const first = admit(tasks, [], limits);
    expect(new Set(first.map((t) => (t.kind === "copy" ? t.sources[0] : ""))).size).toBeGreaterThanOrEqual(4);
    const outstanding: OutstandingTask[] = first.map((t) =>
      t.kind === "copy"
        ? { kind: "copy", chunk: t.chunk, target: t.target, source: t.sources[0]! }
        : { kind: "delete", chunk: t.chunk, node: t.node },
    );
    const second = admit(tasks, outstanding, limits);
    expect(second).toEqual([]);
  });
});
