import { FolderOpen, FolderSync } from "lucide-react";
import { useState, type FormEvent } from "react";
import type { AgentClient } from "../../shared/agent-client.ts";
import { bridge } from "../connection.ts";
import { Button, ErrorNote, Field, inputClass } from "./ui.tsx";

/** Choosing the local folder: a native picker in Electron, a typed path in the browser. */
export function FolderSetup({
  client,
  initial,
  onDone,
}: {
  client: AgentClient;
  initial: string | null;
  onDone: () => void;
}) {
  const [dir, setDir] = useState(initial ?? "");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const b = bridge();

  async function choose() {
    const picked = await b?.chooseFolder();
    if (picked) setDir(picked);
  }

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await client.updateSettings({ localDir: dir.trim() });
      onDone();
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="flex min-h-full items-center justify-center p-6">
      <form onSubmit={submit} className="w-full max-w-sm space-y-4" aria-labelledby="folder-title">
        <div className="flex flex-col items-center gap-2 pb-2 text-center">
          <span className="rounded-2xl bg-sky-100 p-3 text-sky-700">
            <FolderSync className="size-7" aria-hidden />
          </span>
          <h1 id="folder-title" className="text-lg font-semibold">
            Choose a folder to sync
          </h1>
          <p className="text-sm text-slate-500">Files you put here appear on every device and on the web.</p>
        </div>
        <Field label="Local folder" hint="An absolute path; it is created if it does not exist.">
          <div className="flex gap-2">
            <input
              className={inputClass}
              required
              placeholder="/home/you/Cumulus"
              value={dir}
              onChange={(e) => setDir(e.target.value)}
            />
            {b ? (
              <Button onClick={() => void choose()} aria-label="Choose folder">
                <FolderOpen className="size-4" aria-hidden />
                Choose…
              </Button>
            ) : null}
          </div>
        </Field>
        <ErrorNote message={error} />
        <Button type="submit" variant="primary" className="w-full" disabled={busy || !dir.trim()}>
          Use this folder
        </Button>
      </form>
    </div>
  );
}
