import { initialSynced, nfc, pathOf, type LocalNode, type RemoteNode, type SyncedNode } from "../model.ts";
import { describe, type Operation } from "../operations.ts";
import { planWithReport, type PlanOptions, type PlanResult } from "../planner.ts";
import { applyOutcome } from "../synced.ts";
import { execute, SimDisk, SimServer, type ExecResult } from "./sim.ts";

/**
 * A simulated server, disk and synced tree wired to the planner: `plan → execute → record →
 * plan …` until nothing is left to do. Also path-based helpers to set up states in tests.
 */
export class SimWorld {
  readonly server = new SimServer();
  readonly disk: SimDisk;
  readonly synced: Map<string, SyncedNode>;
  planOptions: PlanOptions;
  /** Every operation executed, for failure reports. */
  readonly log: string[] = [];

  /**
   * When false, the planner sees remote files with versions only, as an agent that builds its
   * remote tree from the change feed without fetching manifests.
   */
  readonly remoteHashes: boolean;

  constructor(opts: { caseInsensitive?: boolean; planOptions?: PlanOptions; remoteHashes?: boolean } = {}) {
    this.disk = new SimDisk({ caseInsensitive: opts.caseInsensitive ?? false });
    this.remoteHashes = opts.remoteHashes ?? true;
    this.synced = initialSynced(this.server.rootId, this.disk.rootId);
    this.planOptions = {
      device: "sim",
      date: "2025-01-02",
      ...opts.planOptions,
      caseInsensitive: opts.caseInsensitive ?? false,
    };
  }

  /** The remote tree as the agent would know it. */
  remoteTree(): ReadonlyMap<string, RemoteNode> {
    if (this.remoteHashes) return this.server.nodes;
    const out = new Map<string, RemoteNode>();
    for (const [id, n] of this.server.nodes) out.set(id, n.type === "file" ? { ...n, contentHash: undefined } : n);
    return out;
  }

  plan(): PlanResult {
    return planWithReport(this.remoteTree(), this.disk.nodes, this.synced, this.planOptions);
  }

  /** Executes one operation and, if it succeeded, records it in the synced tree. */
  step(op: Operation): ExecResult {
    const res = execute(op, this.server, this.disk);
    this.log.push(`${res.ok ? "ok  " : "FAIL"} ${describe(op)}${res.ok ? "" : ` — ${res.error}`}`);
    if (res.ok) applyOutcome(this.synced, op, res.outcome, this.remoteTree(), this.disk.nodes);
    return res;
  }

  /**
   * One planning round. `stopAfter` simulates a crash after that many operations;
   * `beforeOp(i)` runs just before operation i (concurrent edits).
   */
  round(opts: { stopAfter?: number; beforeOp?: (i: number) => void } = {}): {
    ops: Operation[];
    executed: number;
    failure?: string;
  } {
    const { operations } = this.plan();
    let executed = 0;
    for (let i = 0; i < operations.length; i++) {
      if (opts.stopAfter !== undefined && i >= opts.stopAfter) break;
      opts.beforeOp?.(i);
      const res = this.step(operations[i]!);
      if (!res.ok) return { ops: operations, executed, failure: res.error };
      executed++;
    }
    return { ops: operations, executed };
  }

  /** Plans and executes until a plan is empty; throws after `maxRounds`. */
  sync(maxRounds = 10): { rounds: number; ops: Operation[]; failures: string[] } {
    const all: Operation[] = [];
    const failures: string[] = [];
    for (let round = 1; round <= maxRounds; round++) {
      this.log.push(`-- round ${round}`);
      const r = this.round();
      if (r.ops.length === 0) return { rounds: round, ops: all, failures };
      all.push(...r.ops.slice(0, r.executed + (r.failure ? 1 : 0)));
      if (r.failure) failures.push(r.failure);
    }
    throw new Error(`no fixed point after ${maxRounds} rounds:\n${this.log.join("\n")}`);
  }

  // --- setting up states --------------------------------------------------------------------

  /** Creates the same items on both sides and links them, as after a completed sync. */
  seed(spec: Record<string, string | null>): void {
    for (const path of Object.keys(spec).sort()) {
      const content = spec[path];
      const r = this.remoteCreate(path, content ?? null);
      const l = this.localCreate(path, content ?? null);
      const parent = this.synced.get(r.parentId!)!;
      this.synced.set(r.id, {
        id: r.id,
        localId: l.id,
        parentId: parent.id,
        name: r.name,
        type: r.type,
        contentHash: r.type === "file" ? (l.contentHash ?? undefined) : undefined,
        version: r.version,
      });
    }
  }

  /** `content` null makes a folder. */
  remoteCreate(path: string, content: string | null): RemoteNode {
    const { parentPath, name } = splitLast(path);
    const parent = this.server.resolve(parentPath);
    if (!parent) throw new Error(`no remote ${parentPath}`);
    return this.server.create(parent.id, name, content === null ? "folder" : "file", content ?? undefined);
  }

  localCreate(path: string, content: string | null, unstable = false): LocalNode {
    const { parentPath, name } = splitLast(path);
    const parent = this.disk.resolve(parentPath);
    if (!parent) throw new Error(`no local ${parentPath}`);
    return this.disk.create(parent.id, name, content === null ? "folder" : "file", content ?? undefined, unstable);
  }

  remote(path: string): RemoteNode {
    const n = this.server.resolve(path);
    if (!n) throw new Error(`no remote ${path}`);
    return n;
  }

  local(path: string): LocalNode {
    const n = this.disk.resolve(path);
    if (!n) throw new Error(`no local ${path}`);
    return n;
  }

  remoteMove(from: string, to: string): void {
    const n = this.remote(from);
    const { parentPath, name } = splitLast(to);
    this.server.move(n.id, this.remote(parentPath).id, name);
  }

  localMove(from: string, to: string): void {
    const n = this.local(from);
    const { parentPath, name } = splitLast(to);
    this.disk.move(n.id, this.local(parentPath).id, name);
  }

  /** path → content ("/" suffix and null for folders), NFC paths. */
  remoteView(): Record<string, string | null> {
    return view(this.server.nodes);
  }

  localView(): Record<string, string | null> {
    return view(this.disk.nodes);
  }
}

function splitLast(path: string): { parentPath: string; name: string } {
  const i = path.lastIndexOf("/");
  return { parentPath: i <= 0 ? "/" : path.slice(0, i), name: path.slice(i + 1) };
}

function view(nodes: ReadonlyMap<string, RemoteNode | LocalNode>): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const [id, n] of nodes) {
    if (n.parentId === null) continue;
    const p = nfc(pathOf(nodes, id) ?? "?");
    out[n.type === "folder" ? p + "/" : p] = n.type === "folder" ? null : (n.contentHash ?? null);
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}
