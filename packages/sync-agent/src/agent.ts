import { EventEmitter } from "node:events";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { BatchingClient } from "@cumulus/client/batching";
import { MAX_BATCH_ITEMS } from "@cumulus/protocol/api";
import { CumulusClient } from "@cumulus/client/client";
import type { TransferProgress } from "@cumulus/client/progress";
import type {
  ActivityItem,
  AgentError,
  AgentSettings,
  AgentSettingsInput,
  AgentState as AgentStateName,
  AgentStatus,
  SelectiveNode,
  SignIn,
} from "@cumulus/protocol/agent";
import { nameProblem } from "@cumulus/protocol/paths";
import type { IgnoreMatcher } from "@cumulus/sync-engine/ignore";
import { initialSynced, type LocalNode, type RemoteNode } from "@cumulus/sync-engine/model";
import type { DeleteRemoteOp, Operation } from "@cumulus/sync-engine/operations";
import { planWithReport, type Waiting } from "@cumulus/sync-engine/planner";
import { planIncremental } from "@cumulus/sync-engine/scope";
import { applyOutcome } from "@cumulus/sync-engine/synced";
import { collapseFolderDeletes, independentDeletes } from "./deletes.ts";
import { describeError, Executor, PreconditionFailed } from "./executor.ts";
import { isCaseInsensitive, LocalScanner } from "./local.ts";
import { RemoteMirror } from "./remote.ts";
import { AgentState, type PersistentSynced } from "./state.ts";
import { type IndexedTree } from "./tree.ts";
import { watchFolder, type FolderWatcher } from "./watcher.ts";

export interface AgentOptions {
  /** null: not chosen yet (state "no-folder" until PUT /api/settings sets it; stateDir is then required). */
  localDir: string | null;
  /**
   * Server folder synced with localDir (absolute, e.g. "/home/alice@corp/Cumulus"). Empty:
   * the one saved in the settings, else the user's home folder (asked once signed in).
   */
  remotePath: string;
  /** Default: `<localDir>/.cumulus`. */
  stateDir?: string;
  device: string;
  server: string | null;
  token: string | null;
  user?: string | null;
  /** A file is synced once its size and mtime stayed put this long (default 500 ms). */
  stableMs?: number;
  /** Watcher and feed events are batched this long before planning (default 150 ms). */
  debounceMs?: number;
  /** Full rescans of the folder as a safety net for missed watcher events (default 60 s). */
  rescanMs?: number;
  /** Seconds the change feed is long-polled (default 25). */
  longPollSec?: number;
  /** No file-system watcher (tests, --once): scans happen each round. */
  watch?: boolean;
  concurrency?: number;
  log?: (line: string) => void;
}

const MAX_ACTIVITY = 200;
/** Files transferred at once (each with its own chunk parallelism). */
const TRANSFER_PARALLELISM = 6;
/**
 * Small uploads at once: their time is control-plane round trips, which the batching client
 * folds into one request per step for all of them (up to MAX_BATCH_ITEMS), so a full batch
 * in flight is what makes them fast on a server that answers slowly.
 */
const SMALL_UPLOAD_PARALLELISM = MAX_BATCH_ITEMS;
const SMALL_FILE = 256 * 1024;
/**
 * Downloads at once (sizes are not known before the plan): their plans are batched too, and
 * the chunk transport's socket limit keeps big ones from all streaming at once.
 */
const DOWNLOAD_PARALLELISM = 128;
/**
 * Transfers run as one batch at most: its state rows are committed together (one SQLite
 * commit, one fsync per folder the downloads wrote to), so a batch is also what a crash can
 * cost to re-link, never to re-transfer.
 */
const MAX_PLAN_BATCH = 2000;
/** Remote deletes at once (independent ones: see runPlan). */
const DELETE_PARALLELISM = 16;
/** Delay between a change-feed answer and the round that plans it. */
const FEED_DEBOUNCE_MS = 20;
/** A plan the next one may build on: the trees and settings it saw, what it left waiting. */
type PlanBase = {
  local: object;
  remote: object;
  ignore: object;
  excluded: string;
  waiting: Waiting[];
  /** When the whole folder was last planned. */
  fullAt: number;
};

/** Incremental plans (see plan()) still plan the whole folder at least this often. */
const FULL_PLAN_MS = 30_000;
/** Watcher paths kept for the next round; past this many a full scan is as cheap. */
const MAX_CHANGED_PATHS = 50_000;

function isTransfer(op: Operation): op is Extract<Operation, { kind: "upload" | "download" }> {
  return op.kind === "upload" || op.kind === "download";
}

/** The first `n` keys of a map, without copying all of them. */
function firstKeys<K>(m: ReadonlyMap<K, unknown>, n: number): K[] {
  const out: K[] = [];
  for (const k of m.keys()) {
    if (out.length >= n) break;
    out.push(k);
  }
  return out;
}

/** Runs `fn` over `items` with at most `n` at once; results in input order. */
async function pool<T, R>(items: readonly T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const k = next++;
      out[k] = await fn(items[k]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

/**
 * The sync agent: keeps `localDir` and the server folder `remotePath` equal. Three trees
 * (remote from the change feed, local from scans triggered by a watcher, synced from the
 * state database), `planWithReport` over them, and the executor, in rounds: events are
 * batched (`debounceMs`), each round catches up with the feed, scans, plans and executes
 * in order until a plan is empty. Failures are recorded as AgentErrors with a fix and
 * retried with backoff; nothing is fatal but stop().
 */
export class SyncAgent extends EventEmitter {
  readonly opts: AgentOptions;
  readonly stateDir: string;
  private state: AgentState | null = null;
  private client: CumulusClient | null = null;
  private remote: RemoteMirror | null = null;
  private scanner: LocalScanner | null = null;
  private synced: PersistentSynced | null = null;
  private watcher: FolderWatcher | null = null;
  private ac = new AbortController();
  private stateName: AgentStateName = "starting";
  private message = "Starting";
  private paused = false;
  private dirty = true;
  private wakeTimer: NodeJS.Timeout | null = null;
  private wakeAt = 0;
  /** Probed on the first round: names differing by case collide on this file system. */
  private caseInsensitive: boolean | undefined;
  private wake: (() => void) | null = null;
  private running: Promise<void> | null = null;
  private feedLoop: Promise<void> | null = null;
  private rescanTimer: NodeJS.Timeout | null = null;
  /** Paths the watcher reported since the last scan: the next round looks at only these. */
  private changedPaths = new Set<string>();
  /** The inputs of the last plan that found nothing to do (see round()). */
  private lastEmptyPlan: { inputs: string; waiting: Waiting[] } | null = null;
  /**
   * The last plan, when every one of its operations was carried out: the next plan may then
   * look at only what changed since (planIncremental). Null forces a plan of the whole folder.
   */
  private planBase: PlanBase | null = null;
  /** The next round walks the whole folder (first round, safety-net timer, watcher trouble). */
  private fullScan = true;
  /** Re-plans in a row whose batch got nothing done (see runPlan). */
  private idleReplans = 0;
  private retryAt = 0;
  private failures = 0;
  private lastRoundQuiet = false;
  private lastSyncedAt: number | null = null;
  private conflicts = 0;
  private readonly startedAt = Date.now();
  private revision = 0;
  private activity: ActivityItem[] = [];
  private errors: AgentError[] = [];
  private progress = { filesPending: 0, bytesTotal: 0, bytesDone: 0, current: [] as string[] };
  private settings: AgentSettings;
  private rounds = 0;

  constructor(opts: AgentOptions) {
    super();
    this.opts = opts;
    if (!opts.stateDir && !opts.localDir) throw new Error("a sync agent without a local folder needs a stateDir");
    this.stateDir = path.resolve(opts.stateDir ?? path.join(opts.localDir!, ".cumulus"));
    this.settings = {
      localDir: opts.localDir ? path.resolve(opts.localDir) : null,
      remotePath: opts.remotePath,
      excluded: [],
      startAtLogin: false,
      notifications: true,
      uploadLimit: 0,
      downloadLimit: 0,
    };
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  // --- life cycle -------------------------------------------------------------------------

  async start(): Promise<void> {
    await mkdir(this.stateDir, { recursive: true, mode: 0o700 });
    this.state ??= new AgentState(this.stateDir);
    const saved = this.state.getMeta("settings");
    if (saved) this.settings = { ...this.settings, ...(JSON.parse(saved) as Partial<AgentSettings>) };
    if (this.opts.localDir) this.settings.localDir = path.resolve(this.opts.localDir);
    if (this.opts.remotePath) this.settings.remotePath = this.opts.remotePath;
    const creds = await this.loadCredentials();
    this.opts.server ??= creds?.server ?? null;
    this.opts.token ??= creds?.token ?? null;
    this.opts.user ??= creds?.email ?? null;
    if (!this.opts.server || !this.opts.token) {
      this.setState("signed-out", "Not signed in");
      return;
    }
    const localDir = this.settings.localDir;
    if (!localDir) {
      this.setState("no-folder", "Choose a folder to sync");
      return;
    }
    // Overlapping begin/commit calls of many small files travel as one batch request each.
    this.client = new BatchingClient({ server: this.opts.server, token: this.opts.token });
    if (!this.settings.remotePath) {
      // Signed in through the UI with no server folder named: the user's home, asked once and kept.
      try {
        this.settings.remotePath = (await this.client.whoami()).home;
        this.state.setMeta("settings", JSON.stringify(this.settings));
      } catch (err) {
        const e = describeError(err);
        this.setState(e.code === "NETWORK" ? "offline" : "error", e.message);
        return;
      }
    }
    await mkdir(localDir, { recursive: true });
    this.scanner = new LocalScanner(localDir, this.state.loadHashes());
    this.remote = new RemoteMirror(this.client, this.settings.remotePath, this.state);
    this.setState("starting", "Starting");
    if (this.opts.watch !== false) {
      this.watcher = watchFolder(localDir, {
        skip: [this.stateDir],
        onChange: (p) => {
          if (this.changedPaths.size < MAX_CHANGED_PATHS) this.changedPaths.add(p);
          else this.fullScan = true;
          this.markDirty();
        },
        // What changed before the watcher was ready, or while it failed, only a full scan sees.
        onReady: () => this.rescan(),
        onError: () => this.rescan(),
      });
    }
    this.rescanTimer = setInterval(() => this.rescan(), this.opts.rescanMs ?? 60_000);
    this.rescanTimer.unref();
    this.running = this.loop();
    this.feedLoop = this.follow();
  }

  /** Stops cleanly: the operation in flight is aborted (downloads leave no partial file). */
  async stop(): Promise<void> {
    this.ac.abort(new Error("agent stopped"));
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wake?.();
    await this.watcher?.close();
    await Promise.allSettled([this.running, this.feedLoop]);
    this.state?.close();
  }

  get stopped(): boolean {
    return this.ac.signal.aborted;
  }

  pause(): AgentStatus {
    this.paused = true;
    this.setState("paused", "Paused");
    return this.status();
  }

  resume(): AgentStatus {
    if (this.paused) {
      this.paused = false;
      this.setState("syncing", "Resuming");
      this.markDirty(0);
    }
    return this.status();
  }

  /**
   * Resolves true once a round found nothing to do (no operations, no files being written),
   * false when it keeps failing (`maxFailures` rounds in a row). `cumulus sync --once` exits on it.
   */
  async whenQuiet(opts: { maxFailures?: number } = {}): Promise<boolean> {
    this.markDirty(0);
    for (;;) {
      const startRound = this.rounds;
      await new Promise<void>((resolve) => {
        const on = () => {
          this.off("round", on);
          resolve();
        };
        this.on("round", on);
      });
      if (this.stopped) return false;
      if (this.lastRoundQuiet && this.rounds > startRound) return true;
      if (this.failures >= (opts.maxFailures ?? 5)) return false;
    }
  }

  // --- loops --------------------------------------------------------------------------------

  private rescan(): void {
    this.fullScan = true;
    this.markDirty();
  }

  markDirty(delay = this.opts.debounceMs ?? 150): void {
    this.dirty = true;
    // A pending wake-up that comes sooner wins (events batch up behind it); a later one is replaced.
    if (this.wakeTimer && this.wakeAt <= Date.now() + delay) return;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeAt = Date.now() + delay;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = null;
      this.wake?.();
    }, delay);
  }

  private async idle(): Promise<void> {
    if (this.dirty && !this.wakeTimer) return;
    await new Promise<void>((resolve) => (this.wake = resolve));
    this.wake = null;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      await this.idle();
      if (this.stopped) break;
      if (!this.dirty) continue;
      if (this.paused) {
        // Paused: plan without executing, so the window can say how many files wait.
        this.dirty = false;
        await this.round(true).catch(() => undefined);
        continue;
      }
      const wait = this.retryAt - Date.now();
      if (wait > 0) {
        this.markDirty(wait);
        continue;
      }
      this.dirty = false;
      try {
        await this.round();
        this.failures = 0;
      } catch (err) {
        if (this.stopped) break;
        this.failures++;
        const backoff = Math.min(30_000, 500 * 2 ** Math.min(this.failures, 6));
        this.retryAt = Date.now() + backoff;
        const e = describeError(err);
        this.recordError(null, err, true);
        this.setState(e.code === "NETWORK" ? "offline" : "error", e.message);
        this.log(`error: ${e.message} (retrying in ${Math.round(backoff / 1000)} s)`);
        this.markDirty(backoff);
      }
      this.rounds++;
      this.emit("round");
    }
  }

  /** Follows the change feed with long-polls; a change wakes the planner. */
  private async follow(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      if (!this.remote?.rootId) {
        await sleep(200, undefined, { signal: this.ac.signal }).catch(() => undefined);
        continue;
      }
      try {
        const n = await this.remote.pull(this.opts.longPollSec ?? 25, this.ac.signal);
        // A feed answer is already a batch (the server commits many files at once): plan it
        // now rather than after the watcher's debounce, which is for bursts of local events.
        if (n > 0) this.markDirty(Math.min(this.opts.debounceMs ?? 150, FEED_DEBOUNCE_MS));
        if (failures > 0) {
          failures = 0;
          this.clearErrors("NETWORK");
          // Reconnected: reconcile what changed while offline now, not after the backoff.
          this.retryAt = 0;
          this.failures = 0;
          this.markDirty(0);
        }
      } catch (err) {
        if (this.stopped) return;
        failures++;
        const e = describeError(err);
        if (e.code === "NETWORK" || e.code === "AUTH") {
          this.recordError(null, err, true);
          this.setState(e.code === "NETWORK" ? "offline" : "error", e.message);
        }
        await sleep(Math.min(30_000, 250 * 2 ** Math.min(failures, 7)), undefined, { signal: this.ac.signal }).catch(
          () => undefined,
        );
      }
    }
  }

  /** `dryRun`: plan only and count the transfers waiting (while paused). */
  private async round(dryRun = false): Promise<void> {
    const { state, remote, scanner, client } = this;
    if (!state || !remote || !scanner || !client) return;
    if (dryRun && (!remote.rootId || !this.synced)) return;
    if (!remote.rootId) {
      await client.mkdir(this.settings.remotePath, { parents: true, signal: this.ac.signal });
      await remote.resnapshot(this.ac.signal);
    } else {
      await remote.pull(0, this.ac.signal);
    }
    this.caseInsensitive ??= await isCaseInsensitive(this.settings.localDir!);
    const scanOpts = {
      caseInsensitive: this.caseInsensitive,
      stableMs: this.opts.stableMs ?? 500,
      skip: [this.stateDir],
      signal: this.ac.signal,
    };
    // Without a watcher every round walks the folder; with one, only what it reported.
    const full = this.fullScan || !this.watcher;
    const changed = this.changedPaths;
    this.changedPaths = new Set();
    this.fullScan = false;
    let scan;
    try {
      scan = (full ? null : await scanner.update(changed, scanOpts)) ?? (await scanner.scan(scanOpts));
    } catch (err) {
      this.fullScan = true; // what `changed` held is not in the tree
      throw err;
    }
    state.saveHashes(scanner.takeHashChanges());
    const localRoot = scan.tree.root()!;
    if (!this.synced) {
      this.synced = state.loadSynced();
      const root = [...this.synced.values()].find((s) => s.parentId === null);
      if (!root || root.id !== remote.rootId || root.localId !== localRoot.id) {
        // A different folder on either side than the one this state was about: start over.
        state.clearSynced();
        this.synced.clear();
        for (const [id, n] of initialSynced(remote.rootId!, localRoot.id)) this.synced.set(id, n);
      }
    }
    for (const p of scan.problems)
      this.recordError(p.path, Object.assign(new Error(p.message), { code: p.code }), true);

    const excluded = new Set<string>();
    for (const rel of this.settings.excluded) {
      const n = remote.tree.resolve(rel);
      if (n) excluded.add(n.id);
    }
    // The planner is pure: with the three trees (and the settings) as they were when it last
    // found nothing to do, it would find nothing again. Rounds woken by the echo of our own
    // writes (watcher events, the feed returning our uploads) skip it; on a large folder a
    // plan is most of a round's CPU.
    const excludedKey = [...excluded].sort().join(",");
    const inputs = `${scan.tree.stamp}|${remote.tree.stamp}|${this.synced.stamp}|${excludedKey}`;
    const same = !dryRun && this.lastEmptyPlan?.inputs === inputs && scan.unstable === 0;
    const { operations, waiting, base } = same
      ? { operations: [] as Operation[], waiting: this.lastEmptyPlan!.waiting, base: this.planBase }
      : this.plan(remote.tree, scan.tree, scan.ignore, excluded, excludedKey, dryRun);
    // The next plan may look at changes only once this one is carried out (see plan()).
    this.planBase = operations.length === 0 ? base : null;
    this.lastEmptyPlan = operations.length === 0 && !dryRun ? { inputs, waiting } : null;
    // Names the server refuses wait in place; a person has to rename them.
    for (const w of waiting)
      if (w.reason.startsWith("name not allowed"))
        this.recordError(
          w.path,
          Object.assign(new Error(`${w.path}: ${nameProblem(w.path.split("/").pop() ?? "") ?? w.reason}`), {
            code: "INVALID_NAME",
          }),
          false,
        );
    if (dryRun) {
      if (scan.unstable > 0) this.markDirty(Math.min(this.opts.stableMs ?? 500, 160));
      const waitingTransfers = operations.filter(isTransfer);
      let bytes = 0;
      for (const op of waitingTransfers) if (op.kind === "upload") bytes += scan.tree.get(op.localId)?.size ?? 0;
      this.progress = { filesPending: waitingTransfers.length, bytesTotal: bytes, bytesDone: 0, current: [] };
      this.emitStatus();
      return;
    }
    if (operations.length === 0) {
      // Partial downloads of an interrupted run are resumed by the plan that needs them;
      // with nothing left to do, any still here are stale.
      for (const p of scan.partials) await rm(p, { force: true }).catch(() => undefined);
      scanner.clearPartials();
      this.lastRoundQuiet = scan.unstable === 0;
      if (scan.unstable > 0) this.markDirty(Math.min(this.opts.stableMs ?? 500, 160));
      this.progress = { filesPending: 0, bytesTotal: 0, bytesDone: 0, current: [] };
      if (!this.paused) {
        if (scan.unstable > 0) this.setState("syncing", `Waiting for ${scan.unstable} file(s) being written`);
        else {
          this.lastSyncedAt = Date.now();
          this.clearErrors(undefined, new Set(waiting.map((w) => w.path)));
          this.setState(
            "up-to-date",
            waiting.length > 0 ? `Up to date (${waiting.length} item(s) waiting: ${waiting[0]!.reason})` : "Up to date",
          );
        }
      }
      return;
    }
    this.lastRoundQuiet = false;
    if (await this.execute(operations, scan.tree)) this.planBase = base;
  }

  /**
   * Plans the whole folder, or only what changed since the last plan when that one was
   * carried out in full: on a large folder that is receiving files, a whole plan per round
   * is most of the agent's CPU. The whole folder is planned again at least every
   * FULL_PLAN_MS, and whenever a tree was replaced (full scan, new snapshot) or settings changed.
   */
  private plan(
    remoteTree: IndexedTree<RemoteNode>,
    localTree: IndexedTree<LocalNode>,
    ignore: IgnoreMatcher,
    excluded: ReadonlySet<string>,
    /** `excluded`, sorted and joined: what a later plan compares. */
    excludedKey: string,
    dryRun: boolean,
  ): { operations: Operation[]; waiting: Waiting[]; base: PlanBase | null } {
    const synced = this.synced!;
    const options = {
      ignore,
      excludedRemoteIds: excluded,
      caseInsensitive: this.caseInsensitive,
      device: this.opts.device,
      isValidName: (n: string) => nameProblem(n) === null,
    };
    // Taken every round, so that each set holds what changed since this plan.
    const changes = { remote: remoteTree.takeChanges(), local: localTree.takeChanges(), synced: synced.takeChanges() };
    const base = this.planBase;
    const now = Date.now();
    const incremental =
      !dryRun &&
      base !== null &&
      base.local === localTree &&
      base.remote === remoteTree &&
      base.ignore === ignore &&
      base.excluded === excludedKey &&
      now - base.fullAt < FULL_PLAN_MS &&
      changes.remote !== null &&
      changes.local !== null &&
      changes.synced !== null;
    let result;
    let fullAt = base?.fullAt ?? now;
    if (incremental) {
      result = planIncremental(
        remoteTree,
        localTree,
        synced,
        { remote: changes.remote!, local: changes.local!, synced: changes.synced!, waiting: base.waiting },
        options,
      );
      if (!result.scoped) fullAt = now;
    } else {
      result = planWithReport(remoteTree, localTree, synced, options);
      fullAt = now;
    }
    this.planBase = null; // the caller sets it once the plan is carried out
    return {
      operations: result.operations,
      waiting: result.waiting,
      // A dry run's operations are not carried out: what they would change stays to be planned.
      base: dryRun
        ? null
        : { local: localTree, remote: remoteTree, ignore, excluded: excludedKey, waiting: result.waiting, fullAt },
    };
  }

  /** True when every operation was carried out. */
  private async execute(planned: Operation[], local: IndexedTree<LocalNode>): Promise<boolean> {
    const remote = this.remote!;
    const operations = collapseFolderDeletes(planned, remote.tree, remote.cursor);
    const transfers = operations.filter(isTransfer);
    this.progress = { filesPending: transfers.length, bytesTotal: 0, bytesDone: 0, current: [] };
    // Upload sizes are known now; a download's when its plan arrives (its first progress report).
    const sizes = new Map<Operation, number>();
    for (const op of transfers)
      if (op.kind === "upload") {
        const size = local.get(op.localId)?.size ?? 0;
        sizes.set(op, size);
        this.progress.bytesTotal += size;
      }
    let doneBytes = 0;
    let lastEmit = 0;
    // Bytes of the transfers in flight, and their sum (kept as it changes: hundreds run at once).
    const inFlight = new Map<string, number>();
    let inFlightBytes = 0;
    const executor = new Executor(
      {
        client: this.client!,
        localDir: this.settings.localDir!,
        remote,
        scanner: this.scanner!,
        journalDir: path.join(this.stateDir, "uploads"),
        deviceName: this.opts.device,
        ...(this.opts.concurrency !== undefined ? { concurrency: this.opts.concurrency } : {}),
        signal: this.ac.signal,
      },
      local,
    );
    this.setState("syncing", this.syncingMessage());

    type Result = "ok" | "replan" | "skipped";
    let fatal: unknown = null;
    const runOne = async (op: Operation): Promise<Result> => {
      const where = "path" in op ? op.path : "to" in op ? op.to : "";
      let detail: string | null = null;
      if (isTransfer(op)) {
        inFlight.set(where, 0);
        if (inFlight.size <= 5) this.progress.current = firstKeys(inFlight, 5);
      }
      let outcome;
      try {
        outcome = await executor.run(op, {
          onTransfer: (d) => (detail = d),
          onProgress: (p: Readonly<TransferProgress>) => {
            if (p.phase === "hashing") return;
            if (op.kind === "download" && !sizes.has(op)) {
              sizes.set(op, p.bytesTotal);
              this.progress.bytesTotal += p.bytesTotal;
            }
            inFlightBytes += p.bytesDone - (inFlight.get(where) ?? 0);
            inFlight.set(where, p.bytesDone);
            this.progress.bytesDone = doneBytes + inFlightBytes;
            if (Date.now() - lastEmit > 250) {
              lastEmit = Date.now();
              this.emitStatus();
            }
          },
        });
      } catch (err) {
        if (this.stopped) return "replan";
        if (err instanceof PreconditionFailed) {
          this.log(`re-planning: ${err.message}`);
          // The local tree may be what is stale (an event the watcher missed): look again.
          if (err.side === "local") this.fullScan = true;
          return "replan";
        }
        const e = describeError(err);
        if (e.code === "NETWORK" || e.code === "AUTH") {
          fatal ??= err;
          return "replan";
        }
        // One item failing (permission, disk full, a refused name) must not hold up the rest:
        // record it, go on, and come back to it with backoff.
        this.recordError(where || null, err, true);
        this.log(`error: ${where}: ${e.message}`);
        this.retryAt = Date.now() + Math.min(30_000, 1000 * 2 ** Math.min(++this.failures, 5));
        this.markDirty(this.retryAt - Date.now());
        return "skipped";
      } finally {
        inFlightBytes -= inFlight.get(where) ?? 0;
        inFlight.delete(where);
      }
      // What the operation did (its synced rows, the remote rows it touched, the hashes it
      // learnt) is written in the batch's transaction (runPlan), committed once per batch.
      applyOutcome(this.synced!, op, outcome, remote.tree, executor.local);
      remote.persist();
      this.state!.saveHashes(this.scanner!.takeHashChanges());
      if (isTransfer(op)) {
        this.progress.filesPending = Math.max(0, this.progress.filesPending - 1);
        doneBytes += sizes.get(op) ?? 0;
        this.progress.bytesDone = doneBytes + inFlightBytes;
        this.progress.current = firstKeys(inFlight, 5);
      }
      this.recordActivity(op, detail);
      this.setState("syncing", this.syncingMessage());
      return "ok";
    };

    const parallelism = (batch: readonly Operation[]) =>
      batch[0]!.kind === "deleteRemote"
        ? DELETE_PARALLELISM
        : batch.every((op) => op.kind === "upload" && (local.get(op.localId)?.size ?? Infinity) <= SMALL_FILE)
          ? SMALL_UPLOAD_PARALLELISM
          : batch.every((op) => op.kind === "download")
            ? DOWNLOAD_PARALLELISM
            : TRANSFER_PARALLELISM;
    try {
      return await this.runPlan(
        operations,
        runOne,
        () => fatal,
        parallelism,
        () => executor.syncDirs(),
      );
    } finally {
      await executor.close();
    }
  }

  private async runPlan(
    operations: Operation[],
    runOne: (op: Operation) => Promise<"ok" | "replan" | "skipped">,
    fatal: () => unknown,
    parallelism: (batch: readonly Operation[]) => number,
    makeDurable: () => Promise<void>,
  ): Promise<boolean> {
    let allOk = true;
    for (let i = 0; i < operations.length;) {
      if (this.stopped || this.paused) return false;
      // Consecutive transfers of distinct paths do not depend on each other (the plan puts
      // every mkdir, move and delete they need before them): run them side by side.
      const batch: Operation[] = [operations[i]!];
      const first = operations[i]!;
      if (first.kind === "deleteRemote") {
        // Remote deletes none of which is inside another are independent: each is one
        // control-plane request, so in a row they cost a round trip each.
        for (let j = i + 1; j < operations.length && batch.length < MAX_PLAN_BATCH; j++) {
          const next = operations[j]!;
          if (next.kind !== "deleteRemote") break;
          if (!batch.every((b) => independentDeletes(b as DeleteRemoteOp, next))) break;
          batch.push(next);
        }
      } else if (isTransfer(first)) {
        const paths = new Set([(operations[i] as { path: string }).path]);
        for (let j = i + 1; j < operations.length && batch.length < MAX_PLAN_BATCH; j++) {
          const next = operations[j]!;
          if (!isTransfer(next) || paths.has(next.path)) break;
          paths.add(next.path);
          batch.push(next);
        }
      }
      i += batch.length;
      // One commit for the batch, after the downloads' renames are durable: a crash before
      // it leaves done-but-unrecorded operations, which the next plan links (same content).
      const results = await this.state!.group(async () => {
        try {
          return await pool(batch, parallelism(batch), runOne);
        } finally {
          await makeDurable();
        }
      });
      if (fatal()) throw fatal();
      if (results.includes("ok")) this.idleReplans = 0;
      if (results.includes("replan")) {
        // A file changed under us: plan again at once. A plan that keeps failing without
        // getting anything done must not spin at full CPU: wait longer each time, up to 5 s.
        this.idleReplans++;
        this.markDirty(this.idleReplans <= 3 ? 0 : Math.min(5000, 50 * 2 ** (this.idleReplans - 3)));
        return false;
      }
      if (results.includes("skipped")) allOk = false;
    }
    this.idleReplans = 0;
    this.markDirty(0); // confirm with a fresh plan (it should be empty)
    return allOk;
  }

  private syncingMessage(): string {
    const p = this.progress;
    return p.filesPending > 0 ? `Syncing ${p.filesPending} file${p.filesPending === 1 ? "" : "s"}` : "Syncing";
  }

  // --- status -------------------------------------------------------------------------------

  private setState(state: AgentStateName, message: string): void {
    if (this.paused && state !== "paused" && state !== "signed-out") state = "paused";
    if (state === this.stateName && message === this.message) return;
    this.stateName = state;
    this.message = state === "paused" ? "Paused" : message;
    this.emitStatus();
  }

  private emitStatus(): void {
    this.emit("status", this.status());
  }

  private recordActivity(op: Operation, transfer: string | null): void {
    const found = activityOf(op);
    if (!found) return;
    const item = transfer ? { ...found, detail: `${found.detail ? found.detail + "; " : ""}${transfer}` } : found;
    if (item.action === "conflict") this.conflicts++;
    this.activity.unshift(item);
    if (this.activity.length > MAX_ACTIVITY) this.activity.length = MAX_ACTIVITY;
    this.log(
      `${item.action.padEnd(8)} ${item.side === "remote" ? "↑" : item.side === "local" ? "↓" : "="} ${item.path}${item.detail ? ` (${item.detail})` : ""}`,
    );
    this.emit("activity", item);
  }

  private recordError(p: string | null, err: unknown, retrying: boolean): void {
    const e = describeError(err);
    const item: AgentError = { at: Date.now(), path: p, code: e.code, message: e.message, fix: e.fix, retrying };
    this.errors = [item, ...this.errors.filter((x) => !(x.path === p && x.code === e.code))].slice(0, 100);
    this.emitStatus();
  }

  /** Drops errors (of one code, or all but those about `keep` paths). */
  private clearErrors(code?: string, keep?: ReadonlySet<string>): void {
    const before = this.errors.length;
    this.errors = code
      ? this.errors.filter((e) => e.code !== code)
      : this.errors.filter((e) => keep !== undefined && e.path !== null && keep.has(e.path));
    if (this.errors.length !== before) this.emitStatus();
  }

  status(): AgentStatus {
    return {
      state: this.stateName,
      message: this.message,
      server: this.opts.server,
      user: this.opts.user ?? null,
      device: this.opts.device,
      localDir: this.settings.localDir,
      remotePath: this.settings.remotePath,
      progress: { ...this.progress, current: [...this.progress.current] },
      lastSyncedAt: this.lastSyncedAt,
      errors: this.errors.length,
      conflicts: this.conflicts,
      cursor: this.remote?.cursor ?? 0,
      webUrl: this.opts.server ? `${this.opts.server}/files${encodeURI(this.settings.remotePath)}` : null,
      startedAt: this.startedAt,
      revision: ++this.revision,
    };
  }

  recentActivity(limit = 50): ActivityItem[] {
    return this.activity.slice(0, limit);
  }

  currentErrors(): AgentError[] {
    return [...this.errors];
  }

  // --- settings, selective sync, sign-in -----------------------------------------------------

  getSettings(): AgentSettings {
    return { ...this.settings, excluded: [...this.settings.excluded] };
  }

  /** localDir and remotePath changes take effect when the agent is started again. */
  async updateSettings(input: AgentSettingsInput): Promise<AgentSettings> {
    if (input.localDir !== undefined && input.localDir !== null && !path.isAbsolute(input.localDir))
      throw Object.assign(new Error(`localDir must be an absolute path, not ${JSON.stringify(input.localDir)}`), {
        code: "BAD_REQUEST",
      });
    if (input.remotePath !== undefined && !input.remotePath.startsWith("/"))
      throw Object.assign(new Error(`remotePath must start with "/", not ${JSON.stringify(input.remotePath)}`), {
        code: "BAD_REQUEST",
      });
    const next = { ...this.settings, ...input };
    next.excluded = [...new Set(next.excluded.map(normalizeRel))].sort();
    if (next.localDir) next.localDir = path.resolve(next.localDir);
    if (input.localDir && this.running && next.localDir !== this.settings.localDir)
      throw Object.assign(new Error("stop the agent to change its folder (it is syncing another one)"), {
        code: "CONFLICT",
      });
    this.settings = next;
    this.state?.setMeta("settings", JSON.stringify(next));
    // A folder chosen by a signed-in agent that had none: start syncing it.
    if (!this.running && next.localDir && this.stateName === "no-folder") await this.start();
    this.markDirty(0);
    return this.getSettings();
  }

  /** Remote folders directly under `rel` (relative to the synced folder) for the selective-sync tree. */
  folderChildren(rel: string): { path: string; children: SelectiveNode[] } {
    const p = normalizeRel(rel);
    const tree = this.remote?.tree;
    const node = tree?.resolve(p);
    if (!tree || !node || node.type !== "folder") return { path: p, children: [] };
    const excluded = this.settings.excluded;
    const children = tree
      .children(node.id)
      .filter((c) => c.type === "folder")
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((c): SelectiveNode => {
        const cp = p === "/" ? `/${c.name}` : `${p}/${c.name}`;
        const isExcluded = excluded.some((x) => cp === x || cp.startsWith(x + "/"));
        const partial = !isExcluded && excluded.some((x) => x.startsWith(cp + "/"));
        return {
          path: cp,
          name: c.name,
          hasChildren: tree.children(c.id).some((k) => k.type === "folder"),
          included: isExcluded ? false : partial ? "partial" : true,
        };
      });
    return { path: p, children };
  }

  /** Creates a device token with a password and keeps it in the state directory (0600). */
  async signIn(input: SignIn): Promise<AgentStatus> {
    const client = new CumulusClient({ server: input.server });
    const t = await client.login({ email: input.email, password: input.password, deviceName: this.opts.device });
    await writeFile(
      path.join(this.stateDir, "credentials.json"),
      JSON.stringify({ server: input.server, token: t.token, email: input.email }),
      { mode: 0o600 },
    );
    this.opts.server = input.server;
    this.opts.token = t.token;
    this.opts.user = input.email;
    if (input.localDir) await this.updateSettings({ localDir: input.localDir });
    if (!this.running) await this.start();
    return this.status();
  }

  async signOut(): Promise<AgentStatus> {
    await this.client?.logout().catch(() => undefined);
    await writeFile(path.join(this.stateDir, "credentials.json"), "{}", { mode: 0o600 });
    this.opts.token = null;
    this.client = null;
    this.setState("signed-out", "Signed out");
    return this.status();
  }

  private async loadCredentials(): Promise<{ server?: string; token?: string; email?: string } | null> {
    try {
      return JSON.parse(await readFile(path.join(this.stateDir, "credentials.json"), "utf8")) as {
        server?: string;
        token?: string;
        email?: string;
      };
    } catch {
      return null;
    }
  }
}

function normalizeRel(p: string): string {
  const parts = p.split("/").filter(Boolean);
  return "/" + parts.join("/");
}

export function activityOf(op: Operation): ActivityItem | null {
  const at = Date.now();
  const conflict = /conflict/i.test(op.reason);
  switch (op.kind) {
    case "upload":
      return { at, action: conflict ? "conflict" : "upload", path: op.path, side: "remote", detail: op.reason };
    case "download":
      return { at, action: "download", path: op.path, side: "local", detail: op.reason };
    case "mkdirRemote":
      return { at, action: "mkdir", path: op.path, side: "remote" };
    case "mkdirLocal":
      return { at, action: "mkdir", path: op.path, side: "local" };
    case "moveRemote":
      return { at, action: conflict ? "conflict" : "move", path: op.to, side: "remote", detail: `from ${op.from}` };
    case "moveLocal":
      return { at, action: conflict ? "conflict" : "move", path: op.to, side: "local", detail: `from ${op.from}` };
    case "deleteRemote":
      return { at, action: "delete", path: op.path, side: "remote" };
    case "deleteLocal":
      return { at, action: "delete", path: op.path, side: "local" };
    default:
      return null;
  }
}
