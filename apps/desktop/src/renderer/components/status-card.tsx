import {
  AlertTriangle,
  CheckCircle2,
  ExternalLink,
  FolderOpen,
  GitFork,
  Loader2,
  Pause,
  PauseCircle,
  Play,
  RefreshCw,
  WifiOff,
} from "lucide-react";
import { useState } from "react";
import type { AgentError, AgentStatus } from "@cumulus/protocol/agent";
import type { AgentClient } from "../../shared/agent-client.ts";
import { percentDone, statusLine } from "../../shared/status-line.ts";
import { bridge } from "../connection.ts";
import { ago, bytes } from "../format.ts";
import { Button, ErrorNote } from "./ui.tsx";

function StateIcon({ state }: { state: AgentStatus["state"] }) {
  const cls = "size-8 shrink-0";
  switch (state) {
    case "up-to-date":
      return <CheckCircle2 className={`${cls} text-emerald-600`} aria-hidden />;
    case "syncing":
      return <RefreshCw className={`${cls} animate-spin text-sky-600 [animation-duration:2s]`} aria-hidden />;
    case "paused":
      return <PauseCircle className={`${cls} text-slate-500`} aria-hidden />;
    case "offline":
      return <WifiOff className={`${cls} text-amber-600`} aria-hidden />;
    case "error":
      return <AlertTriangle className={`${cls} text-red-600`} aria-hidden />;
    default:
      return <Loader2 className={`${cls} animate-spin text-slate-400`} aria-hidden />;
  }
}

function subtitle(s: AgentStatus, now: number): string {
  const waiting = s.progress.filesPending;
  if (s.state === "syncing" && s.progress.bytesTotal > 0)
    return `${bytes(s.progress.bytesDone)} of ${bytes(s.progress.bytesTotal)}`;
  if (s.state === "paused" && waiting > 0) return `${waiting} file${waiting === 1 ? "" : "s"} waiting`;
  if (s.lastSyncedAt) return `Last synced ${ago(s.lastSyncedAt, now)}`;
  return s.message;
}

export function StatusCard({
  client,
  status,
  errors,
  now,
  onStatus,
}: {
  client: AgentClient;
  status: AgentStatus;
  errors: AgentError[];
  now: number;
  onStatus: (s: AgentStatus) => void;
}) {
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const b = bridge();
  const pct = percentDone(status);
  const line = statusLine(status);

  async function act(fn: () => Promise<AgentStatus | string | null | undefined>) {
    setBusy(true);
    setProblem(null);
    try {
      const r = await fn();
      if (typeof r === "string") setProblem(r);
      else if (r) onStatus(r);
    } catch (err) {
      setProblem((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-label="Sync status" className="space-y-3 rounded-xl bg-white p-4 shadow-sm ring-1 ring-slate-200">
      <div className="flex items-start gap-3">
        <StateIcon state={status.state} />
        <div className="min-w-0 flex-1">
          <p role="status" aria-live="polite" className="text-base font-semibold" data-state={status.state}>
            {line}
          </p>
          <p className="truncate text-xs text-slate-500" title={status.localDir ?? ""}>
            {subtitle(status, now)}
          </p>
        </div>
      </div>

      {status.state === "syncing" ? (
        <div className="space-y-1.5">
          <div
            role="progressbar"
            aria-label="Sync progress"
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={pct ?? undefined}
            className="h-1.5 overflow-hidden rounded-full bg-slate-100"
          >
            <div
              className={`h-full rounded-full bg-sky-500 transition-[width] duration-500 ${pct === null ? "w-1/3 animate-pulse" : ""}`}
              style={pct === null ? undefined : { width: `${pct}%` }}
            />
          </div>
          {status.progress.current.length ? (
            <ul aria-label="Transferring now" className="space-y-0.5 text-xs text-slate-500">
              {status.progress.current.map((p) => (
                <li key={p} className="truncate" title={p}>
                  {p}
                </li>
              ))}
            </ul>
          ) : null}
        </div>
      ) : null}

      {status.conflicts > 0 ? (
        <p className="flex items-center gap-2 rounded-md bg-amber-50 px-3 py-2 text-sm text-amber-800 ring-1 ring-amber-200">
          <GitFork className="size-4 shrink-0" aria-hidden />
          {status.conflicts === 1 ? "1 file was" : `${status.conflicts} files were`} edited in two places; both versions
          were kept as &quot;conflicted copy&quot; files.
        </p>
      ) : null}

      {errors.length ? (
        <ul aria-label="Problems" className="space-y-2">
          {errors.map((e) => (
            <li
              key={`${e.at}-${e.code}-${e.path}`}
              className="rounded-md bg-red-50 px-3 py-2 text-sm ring-1 ring-red-200"
            >
              <p className="font-medium text-red-800">
                {e.path ? <span className="font-mono text-xs">{e.path}: </span> : null}
                {e.message}
              </p>
              <p className="text-red-700">
                <span className="font-medium">Fix: </span>
                {e.fix}
                {e.retrying ? <span className="ml-1 text-xs text-red-500">(retrying)</span> : null}
              </p>
            </li>
          ))}
        </ul>
      ) : null}

      <div className="flex flex-wrap gap-2">
        {status.state === "paused" ? (
          <Button key="resume" variant="primary" disabled={busy} onClick={() => void act(() => client.resume())}>
            <Play className="size-4" aria-hidden />
            Resume
          </Button>
        ) : (
          <Button
            key="pause"
            disabled={busy || status.state === "starting"}
            onClick={() => void act(() => client.pause())}
          >
            <Pause className="size-4" aria-hidden />
            Pause
          </Button>
        )}
        {b ? (
          <Button disabled={!status.localDir} onClick={() => void act(() => b.openFolder())}>
            <FolderOpen className="size-4" aria-hidden />
            Open folder
          </Button>
        ) : null}
        {b ? (
          <Button disabled={!status.webUrl} onClick={() => void act(() => b.openWeb())}>
            <ExternalLink className="size-4" aria-hidden />
            Open in web
          </Button>
        ) : status.webUrl ? (
          <a
            href={status.webUrl}
            target="_blank"
            rel="noreferrer"
            className="inline-flex items-center gap-1.5 rounded-md px-3 py-1.5 text-sm font-medium text-slate-700 ring-1 ring-slate-300 hover:bg-slate-50"
          >
            <ExternalLink className="size-4" aria-hidden />
            Open in web
          </a>
        ) : null}
      </div>
      <ErrorNote message={problem} />
    </section>
  );
}
