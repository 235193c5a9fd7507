import { Cloud, Loader2 } from "lucide-react";
import { useCallback, useEffect, useMemo, useState } from "react";
import type { ActivityItem, AgentError, AgentSettings, AgentStatus } from "@cumulus/protocol/agent";
import { createAgentClient, type AgentClient } from "../shared/agent-client.ts";
import { ActivityList } from "./components/activity-list.tsx";
import { FolderSetup } from "./components/folder-setup.tsx";
import { SelectiveSync } from "./components/selective-sync.tsx";
import { SettingsPanel } from "./components/settings-panel.tsx";
import { SignIn } from "./components/sign-in.tsx";
import { StatusCard } from "./components/status-card.tsx";
import { ErrorNote } from "./components/ui.tsx";
import { resolveConnection } from "./connection.ts";
import { newestStatus } from "./newest-status.ts";

type Link = "live" | "polling" | "unreachable";
type Tab = "activity" | "selective" | "settings";

export function App() {
  const [client, setClient] = useState<AgentClient | null>(null);
  const [fatal, setFatal] = useState<string | null>(null);
  useEffect(() => {
    resolveConnection().then(
      (conn) => setClient(createAgentClient(conn)),
      (err: Error) => setFatal(err.message),
    );
  }, []);
  if (fatal) {
    return (
      <div className="p-6">
        <ErrorNote message={fatal} />
      </div>
    );
  }
  if (!client) return <Loading />;
  return <Connected client={client} />;
}

function Loading() {
  return (
    <div className="flex h-full items-center justify-center text-slate-400">
      <Loader2 className="size-6 animate-spin" aria-label="Loading" />
    </div>
  );
}

function Connected({ client }: { client: AgentClient }) {
  const [status, setRawStatus] = useState<AgentStatus | null>(null);
  // Every snapshot goes through here: replies can arrive after a newer event (newest-status.ts).
  const setStatus = useCallback((s: AgentStatus) => setRawStatus((cur) => newestStatus(cur, s)), []);
  const [link, setLink] = useState<Link>("polling");
  const [problem, setProblem] = useState<string | null>(null);
  const [activity, setActivity] = useState<ActivityItem[]>([]);
  const [errors, setErrors] = useState<AgentError[]>([]);
  const [settings, setSettings] = useState<AgentSettings | null>(null);
  const [tab, setTab] = useState<Tab>("activity");
  const [now, setNow] = useState(() => Date.now());

  useEffect(() => {
    client.status().then(setStatus, (err: Error) => setProblem(err.message));
    return client.subscribe(
      (s) => {
        setStatus(s);
        setProblem(null);
      },
      { onConnection: setLink },
    );
  }, [client, setStatus]);

  // "2 min ago" must age even when nothing else changes.
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 15_000);
    return () => clearInterval(t);
  }, []);

  const ready = status && status.state !== "signed-out" && status.state !== "no-folder";
  // Refetch the lists when what they summarise moves: the cursor, the pending count, the
  // error and conflict counters, the state.
  const activityKey = status
    ? `${status.state}|${status.cursor}|${status.progress.filesPending}|${status.conflicts}|${status.lastSyncedAt}`
    : "";
  // A superseded fetch's answer is dropped: it can arrive after the newer one's.
  useEffect(() => {
    if (!ready) return;
    let current = true;
    client.activity(30).then(
      (items) => current && setActivity(items),
      (err: Error) => current && setProblem(err.message),
    );
    return () => {
      current = false;
    };
  }, [client, ready, activityKey]);
  const errorCount = status?.errors ?? 0;
  useEffect(() => {
    if (!ready) return;
    if (errorCount === 0) return setErrors([]);
    let current = true;
    client.errors().then(
      (items) => current && setErrors(items),
      (err: Error) => current && setProblem(err.message),
    );
    return () => {
      current = false;
    };
  }, [client, ready, errorCount]);
  const reloadSettings = useCallback(() => {
    client.settings().then(setSettings, (err: Error) => setProblem(err.message));
  }, [client]);
  useEffect(() => {
    if (ready) reloadSettings();
  }, [ready, reloadSettings, status?.localDir]);

  const body = useMemo(() => {
    if (!status) return <Loading />;
    if (status.state === "signed-out") return <SignIn client={client} status={status} onStatus={setStatus} />;
    if (status.state === "no-folder")
      return (
        <FolderSetup client={client} initial={status.localDir} onDone={() => void client.status().then(setStatus)} />
      );
    return null;
  }, [client, status, setStatus]);

  return (
    <div className="mx-auto flex h-full max-w-xl flex-col">
      <header className="flex items-center gap-2 border-b border-slate-200 bg-white px-4 py-2.5">
        <Cloud className="size-5 text-sky-600" aria-hidden />
        <span className="font-semibold">Cumulus</span>
        <span className="min-w-0 flex-1 truncate text-right text-xs text-slate-500" title={status?.server ?? ""}>
          {status?.user ?? ""}
        </span>
        <span
          title={
            link === "live" ? "Live" : link === "polling" ? "Checking every few seconds" : "The agent does not answer"
          }
          aria-label={`Connection: ${link}`}
          className={`size-2 rounded-full ${link === "live" ? "bg-emerald-500" : link === "polling" ? "bg-amber-400" : "bg-red-500"}`}
        />
      </header>
      {problem || link === "unreachable" ? (
        <div className="px-4 pt-3">
          <ErrorNote
            message={link === "unreachable" ? "The sync agent does not answer; retrying every few seconds…" : problem}
          />
        </div>
      ) : null}
      <main className="min-h-0 flex-1 overflow-auto">
        {body ??
          (status ? (
            <div className="space-y-4 p-4">
              <StatusCard client={client} status={status} errors={errors} now={now} onStatus={setStatus} />
              <nav role="tablist" aria-label="Sections" className="flex gap-1 rounded-lg bg-slate-100 p-1">
                {(
                  [
                    ["activity", "Activity"],
                    ["selective", "Selective sync"],
                    ["settings", "Settings"],
                  ] as const
                ).map(([id, label]) => (
                  <button
                    key={id}
                    role="tab"
                    type="button"
                    aria-selected={tab === id}
                    onClick={() => setTab(id)}
                    className={`flex-1 rounded-md px-2 py-1 text-sm font-medium ${tab === id ? "bg-white text-slate-900 shadow-sm" : "text-slate-600 hover:text-slate-900"}`}
                  >
                    {label}
                  </button>
                ))}
              </nav>
              <section
                role="tabpanel"
                aria-label={tab === "activity" ? "Activity" : tab === "selective" ? "Selective sync" : "Settings"}
              >
                {tab === "activity" ? (
                  <ActivityList items={activity} now={now} />
                ) : !settings ? (
                  <Loading />
                ) : tab === "selective" ? (
                  <SelectiveSync client={client} settings={settings} onSaved={setSettings} />
                ) : (
                  <SettingsPanel
                    client={client}
                    settings={settings}
                    status={status}
                    onSaved={setSettings}
                    onStatus={setStatus}
                  />
                )}
              </section>
            </div>
          ) : null)}
      </main>
    </div>
  );
}
