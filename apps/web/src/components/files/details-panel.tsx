"use client";

import { useQuery } from "@tanstack/react-query";
import { History, Server, X } from "lucide-react";
import { useTRPC } from "@/trpc/react.tsx";
import { Button } from "@/components/ui/button.tsx";
import { Badge } from "@/components/ui/badge.tsx";
import { Alert, Loading } from "@/components/ui/feedback.tsx";
import { EntryIcon } from "./file-list.tsx";
import { baseName, errorMessage, formatBytes, formatDate } from "./format.ts";

const MAX_CHUNKS_SHOWN = 50;

/**
 * What the control plane knows about an entry: size, versions, the effective replication
 * policy and, for a file, where every replica of every chunk of the current version is.
 */
export function DetailsPanel({
  path,
  onClose,
  onVersions,
}: {
  path: string;
  onClose(): void;
  onVersions(path: string): void;
}) {
  const trpc = useTRPC();
  const q = useQuery(trpc.files.stat.queryOptions({ path }));
  const s = q.data;
  const replicaCounts = s?.chunks.map((c) => c.replicas.filter((r) => r.state === "stored").length) ?? [];
  const minReplicas = replicaCounts.length ? Math.min(...replicaCounts) : 0;
  const maxReplicas = replicaCounts.length ? Math.max(...replicaCounts) : 0;
  return (
    <aside
      aria-label="Details"
      className="flex w-full flex-col overflow-hidden rounded-xl border border-slate-200 bg-white shadow-sm lg:w-96"
    >
      <header className="flex items-center gap-2 border-b border-slate-100 px-4 py-3">
        <h2 className="min-w-0 flex-1 truncate text-sm font-semibold">Details</h2>
        <Button size="icon" variant="ghost" className="size-8" aria-label="Close details" onClick={onClose}>
          <X aria-hidden />
        </Button>
      </header>
      <div className="min-h-0 flex-1 overflow-y-auto p-4 text-sm">
        {q.isPending ? (
          <Loading />
        ) : q.error ? (
          <Alert variant="error">{errorMessage(q.error)}</Alert>
        ) : s ? (
          <div className="grid gap-4">
            <div className="flex items-center gap-2">
              <EntryIcon entry={s.entry} className="size-5" />
              <p className="min-w-0 break-words font-medium">{s.entry.name || baseName(s.path) || "/"}</p>
            </div>
            <dl className="grid grid-cols-[7rem_1fr] gap-x-3 gap-y-2">
              <dt className="text-slate-500">Path</dt>
              <dd className="break-all">{s.path}</dd>
              <dt className="text-slate-500">Size</dt>
              <dd data-testid="details-size">
                {s.entry.type === "folder" ? "—" : `${formatBytes(s.size)} (${s.size.toLocaleString("en")} bytes)`}
              </dd>
              <dt className="text-slate-500">Modified</dt>
              <dd>{formatDate(s.entry.modifiedAt)}</dd>
              <dt className="text-slate-500">Owner</dt>
              <dd>{s.entry.owner ?? "—"}</dd>
              {s.entry.type === "file" ? (
                <>
                  <dt className="text-slate-500">Versions</dt>
                  <dd className="flex items-center gap-2">
                    <span data-testid="details-versions">
                      {s.versions} (current v{s.version ?? "—"})
                    </span>
                    <Button size="sm" variant="link" className="h-auto p-0" onClick={() => onVersions(s.path)}>
                      <History aria-hidden /> History
                    </Button>
                  </dd>
                </>
              ) : null}
              <dt className="text-slate-500">Your access</dt>
              <dd className="capitalize">{s.permission}</dd>
            </dl>
            <section aria-label="Replication policy" className="grid gap-1.5">
              <h3 className="text-xs font-semibold uppercase tracking-wide text-slate-500">Replication policy</h3>
              <p data-testid="details-policy">
                {s.policy.replicas} replica{s.policy.replicas === 1 ? "" : "s"}
                {s.policy.requiredSites.length ? ` · required sites: ${s.policy.requiredSites.join(", ")}` : ""}
                {s.policy.allowedSites.length ? ` · only in: ${s.policy.allowedSites.join(", ")}` : ""}
                {s.policy.pinnedNodes.length ? ` · pinned: ${s.policy.pinnedNodes.join(", ")}` : ""}
              </p>
            </section>
            {s.entry.type === "file" ? (
              <section aria-label="Chunks and replicas" className="grid gap-2">
                <h3 className="flex items-center gap-2 text-xs font-semibold uppercase tracking-wide text-slate-500">
                  <Server className="size-3.5" aria-hidden /> Chunks and replicas
                </h3>
                <p className="text-slate-600">
                  {s.chunks.length} chunk{s.chunks.length === 1 ? "" : "s"}
                  {s.chunks.length
                    ? ` · ${minReplicas === maxReplicas ? minReplicas : `${minReplicas}–${maxReplicas}`} stored replica${maxReplicas === 1 ? "" : "s"} each`
                    : ""}
                </p>
                <ol className="grid gap-2">
                  {s.chunks.slice(0, MAX_CHUNKS_SHOWN).map((c, i) => (
                    <li
                      key={`${c.id}-${i}`}
                      aria-label={`Chunk ${i + 1}`}
                      data-replicas={c.replicas.filter((r) => r.state === "stored").length}
                      className="rounded-lg border border-slate-200 p-2"
                    >
                      <div className="flex items-center justify-between gap-2 text-xs text-slate-500">
                        <code title={c.id}>
                          #{i + 1} {c.id.slice(0, 12)}…
                        </code>
                        <span className="tabular-nums">{formatBytes(c.size)}</span>
                      </div>
                      <ul className="mt-1.5 flex flex-wrap gap-1.5" aria-label="Replicas">
                        {c.replicas.map((r) => (
                          <li key={r.nodeId}>
                            <Badge
                              variant={r.state === "stored" ? "info" : r.state === "corrupt" ? "danger" : "warning"}
                            >
                              {r.node} · {r.site}
                              {r.state !== "stored" ? ` · ${r.state}` : ""}
                            </Badge>
                          </li>
                        ))}
                        {c.replicas.length === 0 ? <li className="text-xs text-rose-700">no replica</li> : null}
                      </ul>
                    </li>
                  ))}
                </ol>
                {s.chunks.length > MAX_CHUNKS_SHOWN ? (
                  <p className="text-xs text-slate-500">and {s.chunks.length - MAX_CHUNKS_SHOWN} more chunks</p>
                ) : null}
              </section>
            ) : null}
          </div>
        ) : null}
      </div>
    </aside>
  );
}
