// The reconciler's decisions as pure functions: given the nodes, the chunks (with the
// strictest policy of the files sharing each) and where their replicas are, which copies
// and deletes bring the cluster to what placement says. No I/O here, so the rules are
// tested directly with seeded random states (plan.test.ts).
import { createPlacer, type Placer } from "@cumulus/placement/place";
import type { NodeStatus, PlacementNode, Policy } from "@cumulus/placement/types";

export type ReplicaState = "stored" | "corrupt" | "deleting";

export type PlanNode = {
  id: string;
  name: string;
  site: string;
  /** Placement weight (capacity). */
  weight: number;
  status: NodeStatus;
  /** Active or draining AND its heartbeat is fresh: its confirmed replicas count. */
  live: boolean;
  /** Current registration; replica rows of an older epoch wait for the node's inventory. */
  epoch: number;
  /**
   * Too little free space for new replicas (control/nodes/fullness.ts): no copy goes there,
   * and a repair that placement sends there goes to a node with room instead. What it
   * holds stays; rebalancing onto it waits until it has room again.
   */
  full?: boolean;
};

export type PlanReplica = { nodeId: string; state: ReplicaState; epoch: number };

export type PlanChunk = {
  id: string;
  size: number;
  /** Strictest policy of every file version referencing it; null: nothing references it. */
  policy: Policy | null;
  /** Referenced by an unexpired upload manifest: never garbage. */
  protected: boolean;
  replicas: PlanReplica[];
};

export type CopyReason = "repair" | "policy" | "rebalance" | "heal";
export type DeleteReason = "surplus" | "corrupt" | "gc" | "cleanup";

export type CopyTask = {
  kind: "copy";
  chunk: string;
  size: number;
  target: string;
  /** Nodes holding a live copy, best first (admission puts the chosen source first). */
  sources: string[];
  priority: number;
  reason: CopyReason;
};

export type DeleteTask = {
  kind: "delete";
  chunk: string;
  node: string;
  priority: number;
  reason: DeleteReason;
  /**
   * For surplus deletes: the copy may only go if at least this many OTHER live copies
   * remain at execution time (checked again under a lock, not just here).
   */
  minOthers: number;
};

export type Task = CopyTask | DeleteTask;

/**
 * Priorities, smallest first (graphile-worker runs jobs in ascending priority): chunks
 * with the fewest live copies, then policy changes and drains, then rebalancing onto new
 * nodes, then removal of surplus copies, then clean-up of dead copies.
 */
export const PRIORITY = {
  /** + live copies (0..9): one copy left beats two left. */
  repair: 0,
  policy: 10,
  heal: 12,
  rebalance: 20,
  surplus: 30,
  cleanup: 40,
} as const;

export type ChunkVerdict = "ok" | "under" | "over" | "misplaced" | "unavailable" | "unreferenced";

export type PlanStats = {
  chunks: number;
  referenced: number;
  ok: number;
  under: number;
  over: number;
  misplaced: number;
  unavailable: number;
  unreferenced: number;
};

export type PlanResult = {
  tasks: Task[];
  stats: PlanStats;
  /** Chunks nothing references or protects: garbage once the grace period has passed. */
  garbage: string[];
};

export function emptyStats(): PlanStats {
  return { chunks: 0, referenced: 0, ok: 0, under: 0, over: 0, misplaced: 0, unavailable: 0, unreferenced: 0 };
}

export function addStats(a: PlanStats, b: PlanStats): PlanStats {
  const out = emptyStats();
  for (const k of Object.keys(out) as (keyof PlanStats)[]) out[k] = a[k] + b[k];
  return out;
}

function policyKey(p: Policy): string {
  return JSON.stringify([p.replicas, p.requiredSites, p.allowedSites, p.pinnedNodes]);
}

/**
 * Placement over the nodes as they are now: only live active nodes are eligible, and with
 * `roomOnly` (where new copies can go, not where copies belong) only those with room.
 */
export function placementNodes(nodes: readonly PlanNode[], roomOnly = false): PlacementNode[] {
  return nodes.map((n) => ({
    id: n.id,
    name: n.name,
    site: n.site,
    weight: n.weight,
    status: n.live ? n.status : n.status === "decommissioned" ? "decommissioned" : "down",
    ...(roomOnly && n.full ? { full: true } : {}),
  }));
}

/** Reuses one placer per distinct policy for a whole scan. */
export class PlacerCache {
  private readonly nodes: PlacementNode[];
  private readonly placers = new Map<string, Placer>();

  constructor(nodes: readonly PlanNode[], roomOnly = false) {
    this.nodes = placementNodes(nodes, roomOnly);
  }

  place(chunkId: string, policy: Policy): string[] {
    const key = policyKey(policy);
    let p = this.placers.get(key);
    if (!p) {
      p = createPlacer(this.nodes, policy);
      this.placers.set(key, p);
    }
    return p(chunkId).nodes.map((n) => n.id);
  }
}

/** Does this set of nodes satisfy the policy's site and pin constraints? */
function satisfiesConstraints(ids: readonly string[], policy: Policy, byId: ReadonlyMap<string, PlanNode>): boolean {
  const sites = new Set(ids.map((id) => byId.get(id)?.site));
  if (policy.requiredSites.some((s) => !sites.has(s))) return false;
  if (policy.allowedSites.length > 0) {
    const allowed = new Set(policy.allowedSites);
    if (ids.some((id) => !allowed.has(byId.get(id)?.site ?? ""))) return false;
  }
  for (const pin of policy.pinnedNodes) {
    const pinned = [...byId.values()].filter((n) => n.id === pin || n.name === pin);
    // A pin on a node that is not live cannot be honoured; it does not count against us.
    if (pinned.some((n) => n.live && n.status === "active") && !pinned.some((n) => ids.includes(n.id))) return false;
  }
  return true;
}

/**
 * Decides, for one page of chunks, what to copy and delete. Rules:
 *
 * - A replica counts (is "live") when it is `stored`, on a live node, and confirmed at
 *   the node's current epoch. Replicas on down nodes stop counting at once; a node that
 *   comes back counts again only for what its inventory confirms.
 * - Placement (`placeReplicas` over live active nodes) says where copies should be (D).
 *   Every node of D without a live copy gets one (a node whose copy is corrupt gets a
 *   fresh one over it), taken from a live copy; never onto a node whose row is being
 *   deleted or awaits its inventory.
 * - A live copy outside D is removed only when every node of D holds a live copy (the
 *   replacements are confirmed) and enough copies remain; with too few eligible nodes the
 *   extra copies that make up the count stay (a draining node then keeps its copy).
 * - Corrupt copies outside D are deleted; `deleting` rows are deleted (again).
 * - Nothing is done to chunks nothing references; they are reported as garbage unless an
 *   upload in progress protects them.
 */
export function planChunks(
  chunks: readonly PlanChunk[],
  nodes: readonly PlanNode[],
  placer: PlacerCache = new PlacerCache(nodes),
): PlanResult {
  const byId = new Map(nodes.map((n) => [n.id, n] as const));
  const isFullNode = (id: string) => byId.get(id)?.full === true;
  // Placement over the nodes with room, for repairs placement would send to a full node.
  let roomy: PlacerCache | null = null;
  const placeWithRoom = (id: string, policy: Policy): string[] =>
    (roomy ??= new PlacerCache(nodes, true)).place(id, policy);
  const tasks: Task[] = [];
  const stats = emptyStats();
  const garbage: string[] = [];

  for (const c of chunks) {
    stats.chunks++;
    const isLive = (r: PlanReplica) => {
      const n = byId.get(r.nodeId);
      return r.state === "stored" && n !== undefined && n.live && r.epoch === n.epoch;
    };
    const nodeLive = (id: string) => byId.get(id)?.live === true;
    const current = (r: PlanReplica) => r.epoch === byId.get(r.nodeId)?.epoch;

    if (c.policy === null) {
      stats.unreferenced++;
      if (!c.protected) garbage.push(c.id);
      // Garbage being collected: keep deleting what was marked.
      for (const r of c.replicas) {
        if (r.state === "deleting" && nodeLive(r.nodeId) && current(r)) {
          tasks.push({
            kind: "delete",
            chunk: c.id,
            node: r.nodeId,
            priority: PRIORITY.cleanup,
            reason: "gc",
            minOthers: 0,
          });
        }
      }
      continue;
    }
    stats.referenced++;
    const policy = c.policy;
    const live = c.replicas.filter(isLive).map((r) => r.nodeId);
    const liveSet = new Set(live);
    const desired = placer.place(c.id, policy);
    const desiredSet = new Set(desired);

    // Verdict (for sysinfo): under/over by count, misplaced when the count is right but
    // the places are not what the policy and placement say.
    let verdict: ChunkVerdict;
    if (live.length === 0) verdict = "unavailable";
    else if (live.length < policy.replicas) verdict = "under";
    else if (live.length > policy.replicas) verdict = "over";
    else if (!desired.every((id) => liveSet.has(id)) || !satisfiesConstraints(live, policy, byId))
      verdict = "misplaced";
    else verdict = "ok";
    if (verdict === "unavailable") stats.unavailable++;
    else stats[verdict]++;

    // Copies onto desired nodes that lack a live copy, but none onto a full node: a
    // repair goes to the nodes with room instead (they are surplus once the full node has
    // room again and takes its copy); other copies wait.
    const missing = desired.filter((id) => !liveSet.has(id));
    let targets = missing.filter((id) => !isFullNode(id));
    if (targets.length < missing.length && live.length > 0 && live.length < policy.replicas) {
      const deficit = policy.replicas - live.length;
      const more = placeWithRoom(c.id, policy).filter((id) => !liveSet.has(id) && !targets.includes(id));
      targets = [...targets, ...more.slice(0, Math.max(0, deficit - targets.length))];
    }
    if (live.length > 0) {
      const violated =
        !satisfiesConstraints(live, policy, byId) || live.some((id) => byId.get(id)?.status === "draining");
      const tier: { priority: number; reason: CopyReason } =
        live.length < policy.replicas
          ? { priority: PRIORITY.repair + Math.min(live.length, 9), reason: "repair" }
          : violated
            ? { priority: PRIORITY.policy, reason: "policy" }
            : { priority: PRIORITY.rebalance, reason: "rebalance" };
      for (const target of targets) {
        const row = c.replicas.find((r) => r.nodeId === target);
        // Being deleted there, or waiting for the node's inventory: not now.
        if (row && (row.state === "deleting" || !current(row))) continue;
        const heal = row?.state === "corrupt" || (row?.state === "stored" && !isLive(row));
        tasks.push({
          kind: "copy",
          chunk: c.id,
          size: c.size,
          target,
          sources: live,
          // A bad copy where one should be: as urgent as its chunk's tier, at least "heal".
          priority: heal && tier.reason === "rebalance" ? PRIORITY.heal : tier.priority,
          reason: heal && tier.reason === "rebalance" ? "heal" : tier.reason,
        });
      }
    }

    // Surplus: only once every desired node holds a live copy.
    if (missing.length === 0 && live.length > policy.replicas) {
      const extras = live.filter((id) => !desiredSet.has(id));
      // Too few eligible nodes for the policy: keep extras (active before draining) to make up the count.
      const keepExtra = Math.max(0, policy.replicas - desired.length);
      const ranked = extras
        .map((id) => ({ id, draining: byId.get(id)?.status === "draining" ? 1 : 0 }))
        .sort((a, b) => a.draining - b.draining || (a.id < b.id ? -1 : 1));
      const removable = ranked.slice(keepExtra).map((x) => x.id);
      let remaining = live.length;
      for (const id of removable) {
        if (remaining - 1 < policy.replicas) break;
        remaining--;
        tasks.push({
          kind: "delete",
          chunk: c.id,
          node: id,
          priority: PRIORITY.surplus,
          reason: "surplus",
          minOthers: policy.replicas,
        });
      }
    }

    // Clean-up of dead copies on live nodes.
    for (const r of c.replicas) {
      if (!nodeLive(r.nodeId) || !current(r)) continue;
      if (r.state === "deleting") {
        tasks.push({
          kind: "delete",
          chunk: c.id,
          node: r.nodeId,
          priority: PRIORITY.cleanup,
          reason: "cleanup",
          minOthers: 0,
        });
      } else if (r.state === "corrupt" && !desiredSet.has(r.nodeId)) {
        tasks.push({
          kind: "delete",
          chunk: c.id,
          node: r.nodeId,
          priority: PRIORITY.cleanup,
          reason: "corrupt",
          minOthers: 0,
        });
      }
    }
  }
  return { tasks, stats, garbage };
}

// ---------------------------------------------------------------------------
// Admission: which tasks go to the queue now, within per-node concurrency limits.

export type Limits = {
  /**
   * Copies a node may receive at once. Where the queue runs them this counts copy streams
   * (a batch of chunks from one source, a few pulled at a time); admission scales it to
   * chunks (Reconciler).
   */
  copiesInPerNode: number;
  /** Copies a node may serve (as the source) at once; streams, like copiesInPerNode. */
  copiesOutPerNode: number;
  /** Deletes on one node at once. */
  deletesPerNode: number;
  /** Tasks (chunk copies and deletes) queued or running in total. */
  maxOutstanding: number;
};

export const DEFAULT_LIMITS: Limits = {
  // Two batch streams of 4 chunks each: 8 chunk copies per node at most, so user reads
  // and writes keep most of a node's disk and CPU during a repair.
  copiesInPerNode: 2,
  copiesOutPerNode: 2,
  deletesPerNode: 8,
  maxOutstanding: 2048,
};

/** A task already in the queue (waiting, retrying or running). */
export type OutstandingTask =
  | { kind: "copy"; chunk: string; target: string; source: string | null }
  | { kind: "delete"; chunk: string; node: string };

export function taskKey(
  t: { kind: "copy"; chunk: string; target: string } | { kind: "delete"; chunk: string; node: string },
): string {
  return t.kind === "copy" ? `copy:${t.chunk}:${t.target}` : `delete:${t.chunk}:${t.node}`;
}

type Load = { in: number; out: number; del: number };

/** A stable pseudo-random order per (chunk, node), so sources spread evenly. */
function spread(chunk: string, node: string): number {
  let h = 2166136261;
  const s = chunk.slice(0, 16) + node;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

/**
 * Picks the tasks to enqueue now: most urgent first, skipping what is already queued,
 * within the per-node limits (a copy needs a free slot on its target AND on a source;
 * among its sources the least busy is chosen, spreading a failed node's data over every
 * node that holds some of it: FDS-style parallel recovery). No surplus delete of a chunk
 * while a copy or delete of it is in flight: its picture is about to change.
 */
export function admit(tasks: readonly Task[], outstanding: readonly OutstandingTask[], limits: Limits): Task[] {
  const keys = new Set<string>();
  const busyChunks = new Set<string>();
  const load = new Map<string, Load>();
  const loadOf = (id: string): Load => {
    let l = load.get(id);
    if (!l) {
      l = { in: 0, out: 0, del: 0 };
      load.set(id, l);
    }
    return l;
  };
  for (const o of outstanding) {
    keys.add(taskKey(o));
    busyChunks.add(o.chunk);
    if (o.kind === "copy") {
      loadOf(o.target).in++;
      if (o.source) loadOf(o.source).out++;
    } else {
      loadOf(o.node).del++;
    }
  }
  let total = outstanding.length;
  const sorted = [...tasks].sort(
    (a, b) => a.priority - b.priority || spread(a.chunk, "") - spread(b.chunk, "") || (a.chunk < b.chunk ? -1 : 1),
  );
  const out: Task[] = [];
  for (const t of sorted) {
    if (total >= limits.maxOutstanding) break;
    if (t.kind === "copy") {
      if (keys.has(taskKey(t)) || keys.has(`delete:${t.chunk}:${t.target}`)) continue;
      const target = loadOf(t.target);
      if (target.in >= limits.copiesInPerNode) continue;
      const candidates = t.sources
        .filter((s) => s !== t.target)
        .map((s) => ({ s, l: loadOf(s), r: spread(t.chunk, s) }))
        .sort((a, b) => a.l.out - b.l.out || a.r - b.r);
      const pick = candidates.find((c) => c.l.out < limits.copiesOutPerNode);
      if (!pick) continue;
      target.in++;
      pick.l.out++;
      keys.add(taskKey(t));
      busyChunks.add(t.chunk);
      total++;
      out.push({ ...t, sources: [pick.s, ...candidates.filter((c) => c !== pick).map((c) => c.s)] });
    } else {
      if (keys.has(taskKey(t)) || keys.has(`copy:${t.chunk}:${t.node}`)) continue;
      if (t.reason === "surplus" && busyChunks.has(t.chunk)) continue;
      const l = loadOf(t.node);
      if (l.del >= limits.deletesPerNode) continue;
      l.del++;
      keys.add(taskKey(t));
      busyChunks.add(t.chunk);
      total++;
      out.push(t);
    }
  }
  return out;
}
