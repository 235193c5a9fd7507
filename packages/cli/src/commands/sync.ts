import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { AppError } from "@cumulus/protocol/errors";
import { ZAgentEndpoint, ZAgentStatus, type AgentStatus } from "@cumulus/protocol/agent";
import { startAgent } from "@cumulus/sync-agent/index";
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
/**
 * The desktop app's built renderer, found through the workspace package @cumulus/desktop, so
 * the headless agent serves the same UI as the app. null (and one line saying why) when it is
 * not built or not installed.
 */
export function desktopUiDir(say: (line: string) => void): string | null {
  let dir: string;
  try {
    dir = path.join(
      path.dirname(fileURLToPath(import.meta.resolve("@cumulus/desktop/package.json"))),
      "out",
      "renderer",
    );
  } catch {
    say("no desktop UI: @cumulus/desktop is not installed; serving the control API only");
    return null;
  }
  if (!existsSync(path.join(dir, "index.html"))) {
    say(
      `no desktop UI: ${dir} is not built (cd apps/desktop && npx electron-vite build); serving the control API only`,
    );
    return null;
  }
  return dir;
}

/**
 * `cumulus sync LOCAL_DIR`: runs the sync agent in the foreground with one status line per
 * change of state and per item synced, its local control API on 127.0.0.1 and the desktop
 * UI at the printed address. Ctrl-C stops it cleanly. `--once` syncs until nothing is left
 * to do and exits (0, or 1 when it kept failing). `--status` asks a running agent instead.
 * `cumulus sync --state-dir DIR` without a folder starts the agent with its own saved
 * sign-in and folder (or none yet): sign-in and the folder are then chosen in the UI.
 */
export async function sync(ctx: Ctx, localArg: string | undefined, opts: SyncOpts): Promise<void> {
  if (opts.status) return syncStatus(ctx, localArg, opts);
  if (!localArg && !opts.stateDir)
    throw new AppError(
      "BAD_REQUEST",
      "sync needs a local folder: cumulus sync LOCAL_DIR [--remote PATH] (or --state-dir DIR to choose the folder in the UI)",
    );
  if (!localArg && opts.once) throw new AppError("BAD_REQUEST", "--once needs a local folder");
  const once = opts.once === true;
  const say = (line: string) => {
    if (!opts.json) ctx.io.stdout.write(`${stamp()} ${line}\n`);
  };
  const device = opts.device ?? ctx.deviceName();
  let who: { server: string; token: string | null; user: string; remotePath: string } | null = null;
  let localDir: string | null = null;
  if (localArg) {
    localDir = path.resolve(localArg);
    const st = await stat(localDir).catch(() => null);
    if (!st?.isDirectory())
      throw new AppError("NOT_FOUND", `${localDir} is not a folder: create it first (mkdir -p ${localDir})`);
    const client = await ctx.client(opts);
    const me = await client.whoami();
    who = {
      server: client.server,
      token: client.token ?? null,
      user: me.email,
      remotePath: await ctx.remotePath(client, opts.remote ?? ""),
    };
  } else if (opts.remote && !opts.remote.startsWith("/")) {
    throw new AppError("BAD_REQUEST", "without a local folder, --remote must be an absolute server path");
  }
  const stateDir = localDir ? stateDirOf(localDir, opts) : path.resolve(opts.stateDir!);
  const uiDir = opts.uiDir ? path.resolve(opts.uiDir) : once ? null : desktopUiDir(say);

  if (who) say(`syncing ${localDir} ⇄ ${who.server}${who.remotePath} as ${who.user} (device ${device})`);
  else say(`agent for ${stateDir} (device ${device}): sign in and choose the folder in the UI`);
  const running = await startAgent({
    stateDir,
    localDir,
    remotePath: who?.remotePath ?? opts.remote ?? "",
    device,
    ...(who ? { server: who.server, token: who.token, user: who.user } : {}),
    watch: !once,
    log: say,
    ...(uiDir ? { uiDir } : {}),
    ...(opts.port !== undefined ? { port: opts.port } : {}),
  });
  const agent = running.agent;
  // One line per change of state; while syncing, progress lines at most every 2 s.
  let lastLine = "";
  let lastState = "";
  let lastAt = 0;
  const onStatus = (s: AgentStatus) => {
    const line = `[${s.state}] ${s.message}${s.errors > 0 ? ` — ${s.errors} error(s)` : ""}`;
    if (line === lastLine) return;
    if (s.state === lastState && s.state === "syncing" && Date.now() - lastAt < 2000) return;
    say(line);
    lastLine = line;
    lastState = s.state;
    lastAt = Date.now();
  };
  agent.on("status", onStatus);
  onStatus(agent.status());
  say(`control API on ${running.url} (secret in ${path.join(stateDir, "agent.json")})`);
  if (uiDir) say(`UI: ${running.uiUrl}`);

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
    await running.stop();
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
