import { compileIgnore } from "../ignore.ts";
import { nfc, pathOf, sameName, treeProblems, type LocalNode, type RemoteNode } from "../model.ts";
import { applyEdit, buildInitial, describeEdit, genCase, Ledger, type CaseSpec, type Edit } from "./gen.ts";
import { createRng } from "./prng.ts";
import { ddmin } from "./shrink.ts";
import { SimWorld } from "./world.ts";

/**
 * CanopyCheck-style randomized testing: from a common synced tree, random edits on both
 * sides (some of them while sync runs, some rounds cut short as by a crash), then
 * plan → execute → plan … to a fixed point, and check:
 *
 * - termination: a plan comes back empty within MAX_ROUNDS rounds, and when nothing
 *   changes during sync the first plan does all the work (the second one is empty);
 * - no op fails unless someone changed the world under it (concurrent edits);
 * - no orphans: both trees stay trees after every round;
 * - convergence: the synced part of both trees is the same (paths, types, contents), and
 *   every synced record links two existing items that agree;
 * - no data loss: every content ever written that a person did not overwrite or delete
 *   still exists somewhere (as a file or a conflicted copy).
 */

export const MAX_ROUNDS = 12;

export interface CaseResult {
  failure: string | null;
  rounds: number;
  ops: number;
  conflicts: number;
  log: string[];
}

export function runCase(spec: CaseSpec, opts: { trace?: boolean } = {}): CaseResult {
  const world = new SimWorld({ caseInsensitive: spec.caseInsensitive, remoteHashes: spec.remoteHashes });
  const ledger = new Ledger();
  const excludedId = buildInitial(world, spec, ledger);
  if (excludedId) world.planOptions = { ...world.planOptions, excludedRemoteIds: new Set([excludedId]) };
  const ignore = compileIgnore([], { caseInsensitive: spec.caseInsensitive });
  const log = world.log;
  let ops = 0;
  let conflicts = 0;
  const fail = (msg: string): CaseResult => ({ failure: msg, rounds: 0, ops, conflicts, log });

  for (const e of spec.edits) if (!e.at) applyEdit(world, e, ledger);
  const pending = spec.edits.filter((e) => e.at);
  const crashRng = createRng(spec.seed ^ 0xc4a54);
  let stabilized = false;
  let rounds = 0;
  let roundsWithOps = 0;
  // No crash, no edits during sync, no file being written: the first plan must be complete.
  const simple = !spec.crash && pending.length === 0 && !spec.edits.some((e) => e.kind === "writeUnstable");
  try {
    for (;;) {
      rounds++;
      if (rounds > MAX_ROUNDS) return fail(`no fixed point after ${MAX_ROUNDS} rounds`);
      log.push(`-- round ${rounds}`);
      if (opts.trace) log.push(...dump(world));
      const here = pending.filter((e) => e.at!.round === rounds);
      const stopAfter = spec.crash && rounds <= 2 ? crashRng.int(6) : undefined;
      const res = world.round({
        ...(stopAfter !== undefined ? { stopAfter } : {}),
        beforeOp: (i) => {
          for (const e of here) if (e.at!.op === i) edit(world, e, ledger, log);
        },
      });
      // Edits scheduled past the end of a short plan still happen in their round.
      for (const e of here) if (e.at!.op >= res.executed + (res.failure ? 1 : 0)) edit(world, e, ledger, log);
      ops += res.executed;
      if (res.ops.length > 0) roundsWithOps++;
      if (roundsWithOps > 1 && simple && !stabilized)
        return fail("a second round had work: with nothing changing meanwhile, one plan must finish the job");
      conflicts += res.ops.filter((o) => o.kind === "upload" && o.path.includes("(conflicted copy")).length;
      for (const [label, t] of [
        ["remote", world.server.nodes],
        ["local", world.disk.nodes],
      ] as const) {
        const p = treeProblems<RemoteNode | LocalNode>(t);
        if (p.length > 0) return fail(`${label} tree broken: ${p.join("; ")}`);
      }
      // Op `executed` is the one that failed: only an edit made before it excuses the failure.
      if (res.failure && !here.some((e) => e.at!.op <= res.executed))
        return fail(`operation failed with nobody changing the world: ${res.failure}`);
      const quiet = pending.every((e) => e.at!.round < rounds);
      if (res.ops.length === 0 && quiet) {
        if (!stabilized) {
          // Files being written are finished now; sync must pick them up.
          stabilized = true;
          world.disk.stabilize();
          continue;
        }
        break;
      }
      if (rounds === 4 && !stabilized) {
        stabilized = true;
        world.disk.stabilize();
      }
    }
  } catch (err) {
    return fail(`threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }

  // --- convergence -----------------------------------------------------------------------
  const rView = syncedView(world.server.nodes, (path, isDir, id) => {
    if (excludedId && isInside(world.server.nodes, id, excludedId)) return true;
    return ignore.ignores(path, isDir);
  });
  const lView = syncedView(world.disk.nodes, (path, isDir) => ignore.ignores(path, isDir));
  const diffs: string[] = [];
  for (const k of new Set([...rView.keys(), ...lView.keys()])) {
    if (rView.get(k) !== lView.get(k)) diffs.push(`${k}: remote ${rView.get(k) ?? "—"} local ${lView.get(k) ?? "—"}`);
  }
  if (diffs.length > 0) return { ...fail(`not converged: ${diffs.slice(0, 6).join("; ")}`), rounds };
  for (const s of world.synced.values()) {
    if (s.parentId === null) continue;
    if (!world.synced.has(s.parentId))
      return { ...fail(`synced record ${s.id} (${s.name}) has no parent record`), rounds };
    const r = world.server.nodes.get(s.id);
    const l = world.disk.nodes.get(s.localId);
    if (!r || !l) return { ...fail(`synced record ${s.id}/${s.localId} (${s.name}) points at a missing item`), rounds };
    if (r.type !== l.type || !sameName(r.name, l.name) || !sameName(s.name, r.name))
      return { ...fail(`synced record ${s.id} (${s.name}) disagrees with ${r.name}/${l.name}`), rounds };
    if (r.type === "file" && (s.contentHash !== r.contentHash || r.contentHash !== l.contentHash))
      return { ...fail(`synced record ${s.id} (${s.name}) has stale content`), rounds };
  }

  // --- no data loss ------------------------------------------------------------------------
  const present = new Set<string>();
  for (const n of world.server.nodes.values()) if (n.contentHash !== undefined) present.add(n.contentHash);
  for (const n of world.disk.nodes.values()) if (n.contentHash !== undefined) present.add(n.contentHash);
  const lost = [...ledger.written].filter((t) => !ledger.killed.has(t) && !present.has(t));
  if (lost.length > 0) return { ...fail(`content lost: ${lost.join(", ")}`), rounds };
  return { failure: null, rounds, ops, conflicts, log };
}

/** Both trees and the synced tree, one line per item, for traces. */
export function dump(world: SimWorld): string[] {
  const out: string[] = [];
  const side = (label: string, nodes: ReadonlyMap<string, RemoteNode | LocalNode>) => {
    for (const [id, n] of nodes) {
      if (n.parentId === null) continue;
      const extra =
        n.type === "file" ? ` = ${n.contentHash}${"unstable" in n && n.unstable ? " (unstable)" : ""}` : "/";
      out.push(`   ${label} ${id} ${pathOf(nodes, id)}${extra}`);
    }
  };
  side("remote", world.server.nodes);
  side("local ", world.disk.nodes);
  for (const s of world.synced.values())
    if (s.parentId !== null)
      out.push(
        `   synced ${s.id}↔${s.localId} parent ${s.parentId} "${s.name}"${s.type === "file" ? ` = ${s.contentHash} v${s.version}` : "/"}`,
      );
  return out;
}

function edit(world: SimWorld, e: Edit, ledger: Ledger, log: string[]): void {
  log.push(`   (concurrent) ${describeEdit(e)}`);
  applyEdit(world, e, ledger);
}

function isInside(nodes: ReadonlyMap<string, RemoteNode>, id: string, ancestor: string): boolean {
  for (let cur: string | null | undefined = id; cur; cur = nodes.get(cur)?.parentId) if (cur === ancestor) return true;
  return false;
}

/** NFC path → "folder" or the content, leaving out what `skip` says is not synced. */
function syncedView(
  nodes: ReadonlyMap<string, RemoteNode | LocalNode>,
  skip: (relPath: string, isDir: boolean, id: string) => boolean,
): Map<string, string> {
  const out = new Map<string, string>();
  for (const [id, n] of nodes) {
    if (n.parentId === null) continue;
    const p = pathOf(nodes, id)!;
    if (skip(p.slice(1), n.type === "folder", id)) continue;
    out.set(nfc(p), n.type === "folder" ? "folder" : (n.contentHash ?? "?"));
  }
  return out;
}

// --- driver ---------------------------------------------------------------------------------

export interface FuzzOptions {
  seed: number;
  cases: number;
  /** Upper bound of random edits per case (default 8). */
  maxEdits?: number;
  /** Shrink failures to a minimal edit list (default true). */
  shrink?: boolean;
  /** Stop after this many failures (default 1). */
  maxFailures?: number;
}

export interface FuzzFailure {
  /** Seed of the failing case: runCase(genCase(seed, maxEdits)) replays it. */
  seed: number;
  runSeed: number;
  index: number;
  maxEdits: number;
  message: string;
  /** The shrunk case: replay with runCase(spec). */
  spec: CaseSpec;
  edits: string[];
  log: string[];
}

export interface FuzzResult {
  cases: number;
  failures: FuzzFailure[];
  ms: number;
  rounds: { total: number; max: number };
  ops: number;
  conflicts: number;
}

/** Seed of case i of a run, so that a failing case can be replayed alone. */
export function caseSeed(seed: number, i: number): number {
  return (Math.imul(seed ^ 0x2545f491, 0x9e3779b1) + Math.imul(i, 0x85ebca6b)) >>> 0;
}

export function runFuzz(opts: FuzzOptions): FuzzResult {
  const t0 = performance.now();
  const maxEdits = opts.maxEdits ?? 8;
  const result: FuzzResult = { cases: 0, failures: [], ms: 0, rounds: { total: 0, max: 0 }, ops: 0, conflicts: 0 };
  for (let i = 0; i < opts.cases; i++) {
    const seed = caseSeed(opts.seed, i);
    const spec = genCase(seed, maxEdits);
    const r = runCase(spec);
    result.cases++;
    result.rounds.total += r.rounds;
    result.rounds.max = Math.max(result.rounds.max, r.rounds);
    result.ops += r.ops;
    result.conflicts += r.conflicts;
    if (r.failure !== null) {
      const small = opts.shrink === false ? spec : shrinkCase(spec);
      const again = runCase(small);
      result.failures.push({
        seed,
        runSeed: opts.seed,
        index: i,
        maxEdits,
        message: again.failure ?? r.failure,
        spec: small,
        edits: small.edits.map(describeEdit),
        log: again.failure ? again.log : r.log,
      });
      if (result.failures.length >= (opts.maxFailures ?? 1)) break;
    }
  }
  result.ms = performance.now() - t0;
  return result;
}

/** Delta debugging over the edits, then the simpler settings where the failure survives them. */
export function shrinkCase(spec: CaseSpec): CaseSpec {
  const fails = (s: CaseSpec) => runCase(s).failure !== null;
  let cur: CaseSpec = { ...spec, edits: ddmin(spec.edits, (edits) => fails({ ...spec, edits })) };
  for (const patch of [
    { crash: false },
    { exclude: false },
    { caseInsensitive: false },
    { remoteHashes: true },
  ] as const) {
    const next = { ...cur, ...patch };
    if (JSON.stringify(next) !== JSON.stringify(cur) && fails(next)) cur = next;
  }
  for (let size = 0; size < cur.initialSize; size++) {
    const next = { ...cur, initialSize: size };
    if (fails(next)) {
      cur = next;
      break;
    }
  }
  // Concurrent edits moved before the sync are easier to read, if the failure stays.
  for (let i = 0; i < cur.edits.length; i++) {
    if (!cur.edits[i]!.at) continue;
    const edits = cur.edits.map((e, j) => (j === i ? { ...e, at: undefined } : e));
    if (fails({ ...cur, edits })) cur = { ...cur, edits };
  }
  return cur;
}

export function formatFailure(f: FuzzFailure): string {
  return [
    `[seed ${f.seed} (case ${f.index} of run seed ${f.runSeed}); replay: runCase(genCase(${f.seed}, ${f.maxEdits}), { trace: true })] ${f.message}`,
    `minimal case: ${JSON.stringify({ ...f.spec, edits: undefined })}`,
    "edits:",
    ...f.edits.map((e) => "  " + e),
    "log:",
    ...f.log.map((l) => "  " + l),
  ].join("\n");
}
