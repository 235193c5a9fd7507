import {
  AlertTriangle,
  ArrowDown,
  ArrowRightLeft,
  ArrowUp,
  FolderPlus,
  GitFork,
  Trash2,
  type LucideIcon,
} from "lucide-react";
import type { ActivityItem } from "@cumulus/protocol/agent";
import { ago } from "../format.ts";

const ICONS: Record<string, LucideIcon> = {
  upload: ArrowUp,
  download: ArrowDown,
  mkdir: FolderPlus,
  move: ArrowRightLeft,
  rename: ArrowRightLeft,
  delete: Trash2,
  conflict: GitFork,
  error: AlertTriangle,
};

export function ActivityList({ items, now }: { items: ActivityItem[]; now: number }) {
  if (!items.length) return <p className="px-1 py-6 text-center text-sm text-slate-500">No activity yet.</p>;
  return (
    <ul aria-label="Recent activity" className="divide-y divide-slate-100">
      {items.map((it, i) => {
        const Icon = ICONS[it.action.toLowerCase().split(/\s/)[0] ?? ""] ?? ArrowRightLeft;
        const name = it.path.split("/").filter(Boolean).pop() ?? it.path;
        return (
          <li key={`${it.at}-${it.path}-${i}`} className="flex items-center gap-3 px-1 py-2">
            <span
              className={`rounded-md p-1.5 ${it.action === "conflict" ? "bg-amber-100 text-amber-700" : "bg-slate-100 text-slate-600"}`}
            >
              <Icon className="size-3.5" aria-hidden />
            </span>
            <div className="min-w-0 flex-1">
              <p className="truncate text-sm" title={it.path}>
                {name}
              </p>
              <p className="truncate text-xs text-slate-500">
                {it.action}
                {it.detail ? ` · ${it.detail}` : ""} ·{" "}
                {it.side === "local" ? "this device" : it.side === "remote" ? "server" : "both"}
              </p>
            </div>
            <time className="shrink-0 text-xs text-slate-400" dateTime={new Date(it.at).toISOString()}>
              {ago(it.at, now)}
            </time>
          </li>
        );
      })}
    </ul>
  );
}
