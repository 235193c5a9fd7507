import { ChevronRight, Folder, Loader2 } from "lucide-react";
import { useEffect, useRef, useState } from "react";
import type { AgentSettings, SelectiveNode } from "@cumulus/protocol/agent";
import type { AgentClient } from "../../shared/agent-client.ts";
import { includedState, normalize, sameSet, toggle, toggleable } from "../selective.ts";
import { Button, ErrorNote } from "./ui.tsx";

type Children = Record<string, SelectiveNode[] | "loading" | { error: string }>;

function Checkbox({
  label,
  state,
  disabled,
  onChange,
}: {
  label: string;
  state: boolean | "partial";
  disabled: boolean;
  onChange: () => void;
}) {
  const ref = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (ref.current) ref.current.indeterminate = state === "partial";
  }, [state]);
  return (
    <input
      ref={ref}
      type="checkbox"
      aria-label={label}
      className="size-4 rounded accent-sky-600 disabled:opacity-40"
      checked={state !== false}
      disabled={disabled}
      onChange={onChange}
    />
  );
}

/** A tree of the remote folders with checkboxes; folders are fetched as they are opened. */
export function SelectiveSync({
  client,
  settings,
  onSaved,
}: {
  client: AgentClient;
  settings: AgentSettings;
  onSaved: (s: AgentSettings) => void;
}) {
  const [children, setChildren] = useState<Children>({});
  const [open, setOpen] = useState<Set<string>>(new Set());
  const [draft, setDraft] = useState<string[]>(() => normalize(settings.excluded));
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);

  async function load(path: string) {
    setChildren((c) => ({ ...c, [path]: "loading" }));
    try {
      const t = await client.tree(path);
      setChildren((c) => ({ ...c, [path]: t.children }));
    } catch (err) {
      setChildren((c) => ({ ...c, [path]: { error: (err as Error).message } }));
    }
  }

  useEffect(() => {
    void load("/");
    // The root loads once per client; subfolders load when opened.
  }, [client]);

  function expand(path: string) {
    const next = new Set(open);
    if (next.has(path)) next.delete(path);
    else {
      next.add(path);
      if (!children[path]) void load(path);
    }
    setOpen(next);
  }

  async function save() {
    setBusy(true);
    setError(null);
    setSaved(false);
    try {
      const s = await client.setSelective(normalize(draft));
      onSaved(s);
      setDraft(normalize(s.excluded));
      setSaved(true);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  function render(path: string, depth: number) {
    const list = children[path];
    if (list === undefined || list === "loading") {
      return (
        <p className="flex items-center gap-2 py-1 text-xs text-slate-500" style={{ paddingLeft: depth * 18 + 6 }}>
          <Loader2 className="size-3 animate-spin" aria-hidden /> Loading…
        </p>
      );
    }
    if ("error" in list) {
      return (
        <p role="alert" className="py-1 text-xs text-red-700" style={{ paddingLeft: depth * 18 + 6 }}>
          {list.error}
        </p>
      );
    }
    if (!list.length && depth === 0)
      return <p className="py-4 text-center text-sm text-slate-500">No folders on the server yet.</p>;
    return (
      <ul role={depth === 0 ? "tree" : "group"} aria-label={depth === 0 ? "Remote folders" : undefined}>
        {list.map((n) => {
          const isOpen = open.has(n.path);
          return (
            <li key={n.path} role="treeitem" aria-expanded={n.hasChildren ? isOpen : undefined} aria-selected={false}>
              <div
                className="flex items-center gap-1.5 rounded py-1 pr-2 hover:bg-slate-50"
                style={{ paddingLeft: depth * 18 + 2 }}
              >
                {n.hasChildren ? (
                  <button
                    type="button"
                    aria-label={`${isOpen ? "Collapse" : "Expand"} ${n.name}`}
                    onClick={() => expand(n.path)}
                    className="rounded p-0.5 text-slate-500 hover:bg-slate-200"
                  >
                    <ChevronRight
                      className={`size-3.5 transition-transform ${isOpen ? "rotate-90" : ""}`}
                      aria-hidden
                    />
                  </button>
                ) : (
                  <span className="w-[18px]" />
                )}
                <Checkbox
                  label={n.name}
                  state={includedState(n.path, draft)}
                  disabled={!toggleable(n.path, draft)}
                  onChange={() => {
                    setSaved(false);
                    setDraft((d) => toggle(n.path, d));
                  }}
                />
                <Folder className="size-4 text-sky-600" aria-hidden />
                <span className="truncate text-sm">{n.name}</span>
              </div>
              {isOpen ? render(n.path, depth + 1) : null}
            </li>
          );
        })}
      </ul>
    );
  }

  const changed = !sameSet(draft, settings.excluded);
  return (
    <div className="space-y-3">
      <p className="text-xs text-slate-500">Unchecked folders stay on the server but are removed from this device.</p>
      <div className="max-h-72 overflow-auto rounded-lg bg-white p-1 ring-1 ring-slate-200">{render("/", 0)}</div>
      <ErrorNote message={error} />
      <div className="flex items-center gap-3">
        <Button variant="primary" disabled={!changed || busy} onClick={() => void save()}>
          Save selection
        </Button>
        {changed ? (
          <Button variant="ghost" onClick={() => setDraft(normalize(settings.excluded))}>
            Undo changes
          </Button>
        ) : saved ? (
          <span role="status" className="text-sm text-emerald-700">
            Saved
          </span>
        ) : null}
      </div>
    </div>
  );
}
