"use client";

import { useRouter } from "next/navigation";
import { useEffect, useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ChevronRight, File, Folder, FolderOpen } from "lucide-react";
import { useTRPC } from "@/trpc/react.tsx";
import { PageHeader } from "@/components/shell/app-shell.tsx";
import { Button } from "@/components/ui/button.tsx";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card.tsx";
import { Checkbox, Input } from "@/components/ui/input.tsx";
import { Label } from "@/components/ui/label.tsx";
import { Badge } from "@/components/ui/badge.tsx";
import { Alert, EmptyState, ErrorState, Loading, Spinner, QueryState } from "@/components/ui/feedback.tsx";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table.tsx";
import { useToast } from "@/components/ui/toast.tsx";
import { errorMessage } from "@/components/ui/errors.ts";
import { formatBytes } from "@/components/ui/format.ts";
import { NodeStatusBadge } from "../_components/bits.tsx";
import { refreshQueries } from "@/trpc/refresh.ts";

function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

/** Folder browser for choosing a path (admins see the whole namespace). */
function Browser({ start, onChoose }: { start: string; onChoose: (path: string) => void }) {
  const trpc = useTRPC();
  const [dir, setDir] = useState(start);
  const list = useQuery(trpc.policies.browse.queryOptions({ path: dir }));
  const parts = dir === "/" ? [] : dir.split("/").filter(Boolean);
  return (
    <div className="rounded-lg border border-slate-200 bg-white">
      <nav
        aria-label="Folder path"
        className="flex flex-wrap items-center gap-1 border-b border-slate-100 px-3 py-2 text-sm"
      >
        <button type="button" className="text-sky-700 hover:underline" onClick={() => setDir("/")}>
          /
        </button>
        {parts.map((p, i) => {
          const to = "/" + parts.slice(0, i + 1).join("/");
          return (
            <span key={to} className="flex items-center gap-1">
              <ChevronRight className="size-3 text-slate-400" aria-hidden />
              <button type="button" className="text-sky-700 hover:underline" onClick={() => setDir(to)}>
                {p}
              </button>
            </span>
          );
        })}
      </nav>
      <div className="max-h-64 overflow-y-auto">
        <QueryState
          query={list}
          errorClassName="m-3"
          loading={<Loading className="px-3" />}
          isEmpty={(data) => data.entries.length === 0}
          empty={<p className="px-3 py-4 text-sm text-slate-500">Empty folder.</p>}
        >
          {(data) => (
            <ul>
              {data.entries.map((e) => (
                <li
                  key={e.id}
                  className="flex items-center justify-between gap-2 px-3 py-1.5 text-sm hover:bg-slate-50"
                >
                  {e.type === "folder" ? (
                    <button
                      type="button"
                      className="flex min-w-0 items-center gap-2 text-left"
                      onClick={() => setDir(e.path)}
                    >
                      <Folder className="size-4 shrink-0 text-sky-600" aria-hidden />
                      <span className="truncate">{e.name}</span>
                    </button>
                  ) : (
                    <span className="flex min-w-0 items-center gap-2">
                      <File className="size-4 shrink-0 text-slate-400" aria-hidden />
                      <span className="truncate">{e.name}</span>
                    </span>
                  )}
                  <Button size="sm" variant="ghost" onClick={() => onChoose(e.path)} aria-label={`Choose ${e.path}`}>
                    Choose
                  </Button>
                </li>
              ))}
            </ul>
          )}
        </QueryState>
      </div>
      <div className="border-t border-slate-100 px-3 py-2">
        <Button size="sm" variant="outline" onClick={() => onChoose(dir)}>
          <FolderOpen aria-hidden /> Choose this folder ({dir})
        </Button>
      </div>
    </div>
  );
}

function SiteChecks({
  legend,
  options,
  value,
  onChange,
  hint,
}: {
  legend: string;
  options: { value: string; label: string }[];
  value: string[];
  onChange: (v: string[]) => void;
  hint: string;
}) {
  return (
    <fieldset className="grid gap-2">
      <legend className="text-sm font-medium text-slate-700">{legend}</legend>
      <p className="text-xs text-slate-500">{hint}</p>
      <div className="flex flex-wrap gap-x-4 gap-y-2">
        {options.length === 0 ? <span className="text-sm text-slate-500">None available.</span> : null}
        {options.map((o) => (
          <label key={o.value} className="flex items-center gap-2 text-sm">
            <Checkbox
              checked={value.includes(o.value)}
              onChange={(e) => onChange(e.target.checked ? [...value, o.value] : value.filter((v) => v !== o.value))}
            />
            {o.label}
          </label>
        ))}
      </div>
    </fieldset>
  );
}

function PolicyEditor({ path }: { path: string }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const choices = useQuery(trpc.policies.choices.queryOptions());
  const policy = useQuery(trpc.policies.get.queryOptions({ path }));
  const [replicas, setReplicas] = useState("");
  const [required, setRequired] = useState<string[]>([]);
  const [allowed, setAllowed] = useState<string[]>([]);
  const [pinned, setPinned] = useState<string[]>([]);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    const e = policy.data?.explicit;
    setReplicas(e?.replicas ? String(e.replicas) : "");
    setRequired(e?.requiredSites ?? []);
    setAllowed(e?.allowedSites ?? []);
    setPinned(e?.pinnedNodes ?? []);
  }, [policy.data]);
  const save = useMutation(
    trpc.policies.set.mutationOptions({
      onSuccess: (r) => {
        toast({
          title: `Policy of ${r.path} saved`,
          description: `Effective: ${r.effective.replicas} replicas`,
          variant: "success",
        });
        void refreshQueries(qc, { queryKey: trpc.policies.pathKey() });
        void refreshQueries(qc, { queryKey: trpc.nodes.pathKey() });
      },
      onError: (err) => setProblem(errorMessage(err)),
    }),
  );
  function submit(e: FormEvent) {
    e.preventDefault();
    setProblem(null);
    const n = replicas.trim() === "" ? null : Number(replicas);
    if (n !== null && (!Number.isInteger(n) || n < 1 || n > 16)) {
      setProblem("Replicas: a whole number from 1 to 16, or empty to inherit");
      return;
    }
    save.mutate({ path, replicas: n, requiredSites: required, allowedSites: allowed, pinnedNodes: pinned });
  }
  if (policy.isPending || choices.isPending) return <Loading label="Loading policy…" />;
  if (policy.isError)
    return (
      <ErrorState
        title={`Cannot read the policy of ${path}`}
        message={errorMessage(policy.error)}
        retry={() => void policy.refetch()}
      />
    );
  if (choices.isError) return <ErrorState message={errorMessage(choices.error)} retry={() => void choices.refetch()} />;
  const p = policy.data;
  const sites = choices.data.sites.map((s) => ({ value: s, label: s }));
  const nodes = choices.data.nodes.map((n) => ({
    value: n.name,
    label: `${n.name} (${n.site}${n.status !== "active" ? `, ${n.status}` : ""})`,
  }));
  return (
    <div className="grid gap-6 lg:grid-cols-2">
      <Card>
        <CardHeader>
          <CardTitle>Effective policy</CardTitle>
          <CardDescription>What applies to {p.path}, including what it inherits.</CardDescription>
        </CardHeader>
        <CardContent>
          <dl className="grid grid-cols-[9rem_1fr] gap-y-2 text-sm" data-testid="effective-policy">
            <dt className="text-slate-500">Replicas</dt>
            <dd data-testid="effective-replicas">{p.effective.replicas}</dd>
            <dt className="text-slate-500">Replica count from</dt>
            <dd>{p.inheritedFrom === "default" ? "cluster default" : p.inheritedFrom}</dd>
            <dt className="text-slate-500">Required sites</dt>
            <dd>{p.effective.requiredSites.join(", ") || "—"}</dd>
            <dt className="text-slate-500">Allowed sites</dt>
            <dd>{p.effective.allowedSites.join(", ") || "any"}</dd>
            <dt className="text-slate-500">Pinned nodes</dt>
            <dd>{p.effective.pinnedNodes.join(", ") || "—"}</dd>
          </dl>
          {p.warning ? (
            <Alert variant="warning" className="mt-4" data-testid="policy-warning">
              {p.warning}
            </Alert>
          ) : null}
          <p className="mt-4 text-xs text-slate-500">
            {p.explicit
              ? "This entry has its own settings (right)."
              : "Nothing is set on this entry itself: everything is inherited."}
          </p>
        </CardContent>
      </Card>
      <Card>
        <CardHeader>
          <CardTitle>Set on {p.path}</CardTitle>
          <CardDescription>
            Empty fields inherit from the parent folder (or the cluster default of {choices.data.defaultReplicas}).
          </CardDescription>
        </CardHeader>
        <CardContent>
          <form className="grid gap-4" onSubmit={submit}>
            <div className="grid max-w-40 gap-1.5">
              <Label htmlFor="policy-replicas">Replicas</Label>
              <Input
                id="policy-replicas"
                type="number"
                min={1}
                max={16}
                placeholder="inherit"
                value={replicas}
                onChange={(e) => setReplicas(e.target.value)}
              />
            </div>
            <SiteChecks
              legend="Required sites"
              hint="Each gets at least one replica."
              options={sites}
              value={required}
              onChange={setRequired}
            />
            <SiteChecks
              legend="Allowed sites"
              hint="Replicas only go to these (none checked: any site)."
              options={sites}
              value={allowed}
              onChange={setAllowed}
            />
            <SiteChecks
              legend="Pinned nodes"
              hint="Always hold a replica while active."
              options={nodes}
              value={pinned}
              onChange={setPinned}
            />
            {problem ? (
              <p role="alert" className="text-sm text-rose-700">
                {problem}
              </p>
            ) : null}
            <div className="flex flex-wrap gap-2">
              <Button type="submit" disabled={save.isPending}>
                {save.isPending ? <Spinner /> : null}
                Save policy
              </Button>
              <Button
                type="button"
                variant="outline"
                disabled={save.isPending || !p.explicit}
                onClick={() =>
                  save.mutate({ path, replicas: null, requiredSites: [], allowedSites: [], pinnedNodes: [] })
                }
              >
                Clear (inherit everything)
              </Button>
            </div>
          </form>
        </CardContent>
      </Card>
    </div>
  );
}

const STATUS_VARIANT = { ok: "success", under: "danger", over: "warning", misplaced: "info" } as const;

function Placement({ path }: { path: string }) {
  const trpc = useTRPC();
  const inspect = useQuery(trpc.policies.inspect.queryOptions({ path }));
  if (inspect.isPending) return <Loading label="Comparing replicas with placement…" />;
  if (inspect.isError) return <ErrorState message={errorMessage(inspect.error)} retry={() => void inspect.refetch()} />;
  const d = inspect.data;
  return (
    <section aria-labelledby="placement-heading" className="grid gap-4">
      <div>
        <h2 id="placement-heading" className="text-lg font-semibold">
          Where the replicas are
        </h2>
        <p className="text-sm text-slate-500">
          Each chunk&apos;s replicas now, next to where placement says they should be under the effective policy.{" "}
          {d.entry.type === "folder"
            ? `${d.filesScanned} file${d.filesScanned === 1 ? "" : "s"} in this folder${d.truncated ? " (the first 200)" : ""}.`
            : `${formatBytes(d.entry.size)}.`}{" "}
          The reconciler copies and removes replicas to match, in the background.
        </p>
      </div>
      {d.summary.chunks === 0 ? (
        <EmptyState title="No content here yet" description="Upload files to see where their chunks are placed." />
      ) : (
        <>
          <div className="flex flex-wrap gap-2 text-sm" data-testid="placement-summary">
            <Badge variant="outline">{d.summary.chunks} chunks</Badge>
            <Badge variant="success">{d.summary.ok} as intended</Badge>
            <Badge variant="danger">{d.summary.under} under-replicated</Badge>
            <Badge variant="warning">{d.summary.over} over-replicated</Badge>
            <Badge variant="info">{d.summary.misplaced} on other nodes than intended</Badge>
          </div>
          <Table aria-label="Replicas per node">
            <TableHeader>
              <TableRow>
                <TableHead>Node</TableHead>
                <TableHead>Site</TableHead>
                <TableHead>Status</TableHead>
                <TableHead className="text-right">Replicas now</TableHead>
                <TableHead className="text-right">Placement wants</TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {d.nodes.map((n) => (
                <TableRow key={n.id}>
                  <TableCell className="font-medium">{n.name}</TableCell>
                  <TableCell>{n.site}</TableCell>
                  <TableCell>
                    <NodeStatusBadge status={n.status} />
                  </TableCell>
                  <TableCell className="text-right tabular-nums">{n.actual}</TableCell>
                  <TableCell className="text-right tabular-nums">{n.intended}</TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
          <Table aria-label="Chunks">
            <TableHeader>
              <TableRow>
                <TableHead>Chunk</TableHead>
                <TableHead>File</TableHead>
                <TableHead>Now on</TableHead>
                <TableHead>Should be on</TableHead>
                <TableHead>State</TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {d.chunks.map((c) => (
                <TableRow key={c.id}>
                  <TableCell>
                    <code className="text-xs" title={c.id}>
                      {c.id.slice(0, 12)}…
                    </code>
                    <div className="text-xs text-slate-500">{formatBytes(c.size)}</div>
                  </TableCell>
                  <TableCell className="max-w-56 truncate text-slate-600" title={c.file}>
                    {c.file}
                  </TableCell>
                  <TableCell className="text-sm">
                    {c.actual.length === 0
                      ? "—"
                      : c.actual
                          .map((a) => `${a.node}${a.state !== "stored" ? ` (${a.state})` : !a.live ? " (down)" : ""}`)
                          .join(", ")}
                  </TableCell>
                  <TableCell className="text-sm">
                    {c.intended.map((i) => i.node).join(", ") || "—"}
                    {c.notes.length > 0 ? <div className="text-xs text-amber-700">{c.notes.join("; ")}</div> : null}
                  </TableCell>
                  <TableCell>
                    <Badge variant={STATUS_VARIANT[c.status]}>
                      {c.status} ({c.actual.filter((a) => a.live).length}/{c.want})
                    </Badge>
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
          {d.summary.chunks > d.chunks.length ? (
            <p className="text-xs text-slate-500">
              Showing the first {d.chunks.length} of {d.summary.chunks} chunks.
            </p>
          ) : null}
        </>
      )}
    </section>
  );
}

export function PoliciesView({ initialPath }: { initialPath: string | null }) {
  const router = useRouter();
  const [input, setInput] = useState(initialPath ?? "");
  const [path, setPath] = useState<string | null>(initialPath);
  const [browsing, setBrowsing] = useState(initialPath === null);
  function choose(p: string) {
    setInput(p);
    setPath(p);
    setBrowsing(false);
    router.replace(`/admin/policies?path=${encodeURIComponent(p)}`, { scroll: false });
  }
  return (
    <div className="grid gap-6">
      <PageHeader
        title="Replication policies"
        description="How many replicas a file or folder keeps and where: set on any entry, inherited by everything below it."
      />
      <Card>
        <CardContent className="grid gap-3 pt-5">
          <form
            className="flex flex-wrap items-end gap-2"
            onSubmit={(e) => {
              e.preventDefault();
              const p = input.trim();
              if (p) choose(p.startsWith("/") ? p : `/${p}`);
            }}
          >
            <div className="grid min-w-64 flex-1 gap-1.5">
              <Label htmlFor="policy-path">Path</Label>
              <Input
                id="policy-path"
                placeholder="/home/alice/Projects"
                value={input}
                onChange={(e) => setInput(e.target.value)}
              />
            </div>
            <Button type="submit">Show policy</Button>
            <Button type="button" variant="outline" onClick={() => setBrowsing((b) => !b)} aria-expanded={browsing}>
              {browsing ? "Hide browser" : "Browse…"}
            </Button>
          </form>
          {browsing ? <Browser start={path ? parentOf(path) : "/"} onChoose={choose} /> : null}
        </CardContent>
      </Card>
      {path ? (
        <>
          <PolicyEditor key={`e:${path}`} path={path} />
          <Placement key={`p:${path}`} path={path} />
        </>
      ) : (
        <EmptyState title="Choose a file or folder" description="Type its path or browse the namespace." />
      )}
    </div>
  );
}
