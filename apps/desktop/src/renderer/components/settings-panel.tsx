import { LogOut } from "lucide-react";
import { useEffect, useState, type FormEvent } from "react";
import type { AgentSettings, AgentStatus } from "@cumulus/protocol/agent";
import type { AgentClient } from "../../shared/agent-client.ts";
import { bridge } from "../connection.ts";
import { Button, ErrorNote, Field, inputClass } from "./ui.tsx";

const KB = 1024;

export function SettingsPanel({
  client,
  settings,
  status,
  onSaved,
  onStatus,
}: {
  client: AgentClient;
  settings: AgentSettings;
  status: AgentStatus;
  onSaved: (s: AgentSettings) => void;
  onStatus: (s: AgentStatus) => void;
}) {
  const b = bridge();
  const [localDir, setLocalDir] = useState(settings.localDir ?? "");
  const [notifications, setNotifications] = useState(settings.notifications);
  const [up, setUp] = useState(String(Math.round(settings.uploadLimit / KB)));
  const [down, setDown] = useState(String(Math.round(settings.downloadLimit / KB)));
  const [atLogin, setAtLogin] = useState<boolean | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);

  useEffect(() => {
    void b?.getStartAtLogin().then(setAtLogin);
  }, [b]);

  function limit(text: string, what: string): number {
    const n = Number(text.trim() || "0");
    if (!Number.isInteger(n) || n < 0)
      throw new Error(`${what} must be a whole number of KB/s (0 = no limit), not "${text}"`);
    return n * KB;
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setSaved(false);
    try {
      const patch = {
        localDir: localDir.trim() || null,
        notifications,
        uploadLimit: limit(up, "Upload limit"),
        downloadLimit: limit(down, "Download limit"),
        ...(atLogin === null ? {} : { startAtLogin: atLogin }),
      };
      const s = await client.updateSettings(patch);
      if (b && atLogin !== null) await b.setStartAtLogin(atLogin);
      onSaved(s);
      setSaved(true);
    } catch (err) {
      setError((err as Error).message);
    }
  }

  return (
    <form onSubmit={submit} className="space-y-4" aria-label="Settings">
      <Field label="Local folder">
        <div className="flex gap-2">
          <input className={inputClass} value={localDir} onChange={(e) => setLocalDir(e.target.value)} />
          {b ? (
            <Button onClick={() => void b.chooseFolder().then((d) => d && setLocalDir(d))} aria-label="Choose folder">
              Choose…
            </Button>
          ) : null}
        </div>
      </Field>
      <div className="grid grid-cols-2 gap-3">
        <Field label="Upload limit (KB/s)" hint="0 = no limit">
          <input className={inputClass} inputMode="numeric" value={up} onChange={(e) => setUp(e.target.value)} />
        </Field>
        <Field label="Download limit (KB/s)" hint="0 = no limit">
          <input className={inputClass} inputMode="numeric" value={down} onChange={(e) => setDown(e.target.value)} />
        </Field>
      </div>
      <label className="flex items-center gap-2 text-sm">
        <input
          type="checkbox"
          className="size-4 accent-sky-600"
          checked={notifications}
          onChange={(e) => setNotifications(e.target.checked)}
        />
        Notifications for conflicts and errors
      </label>
      {b && atLogin !== null ? (
        <label className="flex items-center gap-2 text-sm">
          <input
            type="checkbox"
            className="size-4 accent-sky-600"
            checked={atLogin}
            onChange={(e) => setAtLogin(e.target.checked)}
          />
          Start at login
        </label>
      ) : null}
      <ErrorNote message={error} />
      <div className="flex items-center gap-3">
        <Button type="submit" variant="primary">
          Save settings
        </Button>
        {saved ? (
          <span role="status" className="text-sm text-emerald-700">
            Saved
          </span>
        ) : null}
      </div>
      <div className="flex items-center justify-between border-t border-slate-200 pt-4 text-sm">
        <span className="min-w-0 truncate text-slate-600">
          {status.user} on {status.device}
        </span>
        <Button
          variant="danger"
          onClick={() => void client.signOut().then(onStatus, (err: Error) => setError(err.message))}
        >
          <LogOut className="size-4" aria-hidden />
          Sign out
        </Button>
      </div>
    </form>
  );
}
