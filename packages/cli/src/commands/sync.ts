import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { AppError } from "@cumulus/protocol/errors";
import { ZAgentEndpoint, ZAgentStatus, type AgentStatus } from "@cumulus/protocol/agent";
import { SyncAgent } from "@cumulus/sync-agent/agent";
import { startControlApi } from "@cumulus/sync-agent/control-api";
import type { Ctx, GlobalOpts } from "../context.ts";

export interface SyncOpts extends GlobalOpts {
  remote?: string;
  stateDir?: string;
  device?: string;
  port?: number;
  once?: boolean;
  status?: boolean;
  uiDir?: string;
}

function stateDirOf(localDir: string, opts: SyncOpts): string {
  return path.resolve(opts.stateDir ?? path.join(localDir, ".cumulus"));
}

const stamp = () => new Date().toISOString().slice(11, 19);

/**
 * `cumulus sync LOCAL_DIR`: runs the sync agent in the foreground with one status line per
 * change of state and per item synced, and its local control API on 127.0.0.1. Ctrl-C
 * stops it cleanly. `--once` syncs until nothing is left to do and exits (0, or 1 when
 * it kept failing). `--status` asks a running agent instead.
 */
export async function sync(ctx: Ctx, localArg: string | undefined, opts: SyncOpts): Promise<void> {
  if (opts.status) return syncStatus(ctx, localArg, opts);
  if (!localArg) throw new AppError("BAD_REQUEST", "sync needs a local folder: cumulus sync LOCAL_DIR [--remote PATH]");
  const localDir = path.resolve(localArg);
  const st = await stat(localDir).catch(() => null);
  if (!st?.isDirectory())
    throw new AppError("NOT_FOUND", `${localDir} is not a folder: create it first (mkdir -p ${localDir})`);
  const client = await ctx.client(opts);
  const me = await client.whoami();
  const remotePath = await ctx.remotePath(client, opts.remote ?? "");
  const device = opts.device ?? ctx.deviceName();
  const once = opts.once === true;
  const say = (line: string) => {
    if (!opts.json) ctx.io.stdout.write(`${stamp()} ${line}\n`);
  };

  const agent = new SyncAgent({
    localDir,
    remotePath,
    stateDir: stateDirOf(localDir, opts),
    device,
    server: client.server,
    token: client.token ?? null,
    user: me.email,
    watch: !once,
    log: say,
  });
  // One line per change of state; while syncing, progress lines at most every 2 s.
  let lastLine = "";
  let lastState = "";
  let lastAt = 0;
  agent.on("status", (s: AgentStatus) => {
    const line = `[${s.state}] ${s.message}${s.errors > 0 ? ` — ${s.errors} error(s)` : ""}`;
    if (line === lastLine) return;
    if (s.state === lastState && s.state === "syncing" && Date.now() - lastAt < 2000) return;
    say(line);
    lastLine = line;
    lastState = s.state;
    lastAt = Date.now();
  });
  say(`syncing ${localDir} ⇄ ${client.server}${remotePath} as ${me.email} (device ${device})`);
  await agent.start();
  const api = await startControlApi(agent, {
    ...(opts.port !== undefined ? { port: opts.port } : {}),
    ...(opts.uiDir ? { uiDir: opts.uiDir } : {}),
  });
  say(`control API on ${api.url} (secret in ${path.join(agent.stateDir, "agent.json")})`);

  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const release = ctx.io.onInterrupt(() => stop());
  let ok = true;
  try {
    if (once) {
      ok = await Promise.race([agent.whenQuiet(), stopped.then(() => true)]);
    } else {
      await stopped;
    }
  } finally {
    release();
    say("stopping");
    await api.close();
    await agent.stop();
  }
  const s = agent.status();
  if (opts.json) ctx.json({ ...s, errorsList: agent.currentErrors() });
  if (!ok) {
    const first = agent.currentErrors()[0];
    throw new AppError(
      "UNAVAILABLE",
      `sync did not finish: ${first ? `${first.path ?? ""} ${first.message} — ${first.fix}` : s.message}`,
    );
  }
}

async function syncStatus(ctx: Ctx, localArg: string | undefined, opts: SyncOpts): Promise<void> {
  const localDir = path.resolve(localArg ?? ".");
  const file = path.join(stateDirOf(localDir, opts), "agent.json");
  let endpoint;
  try {
    endpoint = ZAgentEndpoint.parse(JSON.parse(await readFile(file, "utf8")));
  } catch {
    throw new AppError(
      "NOT_FOUND",
      `no sync agent found for ${localDir} (no ${file}): start one with cumulus sync ${localArg ?? "."}`,
    );
  }
  let status: AgentStatus;
  try {
    const res = await fetch(`http://127.0.0.1:${endpoint.port}/api/status`, {
      headers: { authorization: `Bearer ${endpoint.secret}` },
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    status = ZAgentStatus.parse(await res.json());
  } catch {
    throw new AppError(
      "UNAVAILABLE",
      `the sync agent for ${localDir} is not running (pid ${endpoint.pid} does not answer)`,
    );
  }
  if (opts.json) return ctx.json(status);
  const p = status.progress;
  ctx.out(
    [
      `${status.state}: ${status.message}`,
      `folder:  ${status.localDir} ⇄ ${status.server ?? "?"}${status.remotePath ?? ""}`,
      `device:  ${status.device}${status.user ? ` (${status.user})` : ""}`,
      p.filesPending > 0
        ? `pending: ${p.filesPending} file(s)${p.current.length ? `, now ${p.current.join(", ")}` : ""}`
        : "",
      `synced:  ${status.lastSyncedAt ? new Date(status.lastSyncedAt).toISOString() : "not yet"}; cursor ${status.cursor}`,
      status.errors > 0 ? `errors:  ${status.errors}` : "",
      status.conflicts > 0 ? `conflicts: ${status.conflicts}` : "",
    ]
      .filter(Boolean)
      .join("\n"),
  );
}
