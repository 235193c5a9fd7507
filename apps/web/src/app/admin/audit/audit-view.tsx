"use client";

import { useState, type FormEvent } from "react";
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { useTRPC } from "@/trpc/react.tsx";
import { PageHeader } from "@/components/shell/app-shell.tsx";
import { Button } from "@/components/ui/button.tsx";
import { Input, NativeSelect } from "@/components/ui/input.tsx";
import { Label } from "@/components/ui/label.tsx";
import { Badge } from "@/components/ui/badge.tsx";
import { EmptyState, Loading, Spinner, QueryState } from "@/components/ui/feedback.tsx";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table.tsx";
import { formatDate } from "@/components/ui/format.ts";

/** Groups of actions offered besides the exact ones found in the log. */
const GROUPS = [
  { value: "signin*", label: "All sign-ins (ok, failed, locked)" },
  { value: "user.", label: "All user administration" },
  { value: "group.", label: "All group changes" },
  { value: "ip-rule.", label: "All IP rule changes" },
  { value: "share.", label: "All sharing with people" },
  { value: "link.", label: "All share links" },
  { value: "entry.", label: "All file operations (trash, move, public…)" },
  { value: "device-token.", label: "All device tokens" },
  { value: "node.", label: "All node actions" },
  { value: "policy.", label: "All policy changes" },
];

type Filters = { action: string; actor: string; outcome: "" | "ok" | "denied" | "failed"; from: string; to: string };
const EMPTY: Filters = { action: "", actor: "", outcome: "", from: "", to: "" };

function toIso(local: string): string | undefined {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

function details(d: unknown): string {
  if (!d || typeof d !== "object" || Object.keys(d).length === 0) return "";
  return JSON.stringify(d);
}

export function AuditView() {
  const trpc = useTRPC();
  const actions = useQuery(trpc.audit.actions.queryOptions());
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const input = {
    limit: 50,
    ...(filters.action ? { action: filters.action } : {}),
    ...(filters.actor ? { actor: filters.actor } : {}),
    ...(filters.outcome ? { outcome: filters.outcome } : {}),
    ...(toIso(filters.from) ? { from: toIso(filters.from) } : {}),
    ...(toIso(filters.to) ? { to: toIso(filters.to) } : {}),
  };
  const events = useInfiniteQuery(
    trpc.audit.list.infiniteQueryOptions(input, { getNextPageParam: (last) => last.nextCursor ?? undefined }),
  );
  function apply(e: FormEvent) {
    e.preventDefault();
    setFilters(draft);
  }
  const rows = events.data?.pages.flatMap((p) => p.events) ?? [];
  return (
    <div className="grid gap-6">
      <PageHeader
        title="Audit log"
        description="Sign-ins, failed sign-ins, sharing, permission and policy changes, and admin actions."
      />
      <form
        onSubmit={apply}
        className="flex flex-wrap items-end gap-3 rounded-xl border border-slate-200 bg-white p-4 shadow-sm"
        aria-label="Filter the audit log"
      >
        <div className="grid w-full gap-1.5 sm:w-64">
          <Label htmlFor="audit-action">Action</Label>
          <NativeSelect
            id="audit-action"
            value={draft.action}
            onChange={(e) => setDraft({ ...draft, action: e.target.value })}
          >
            <option value="">All actions</option>
            <optgroup label="Groups">
              {GROUPS.map((g) => (
                <option key={g.value} value={g.value}>
                  {g.label}
                </option>
              ))}
            </optgroup>
            <optgroup label="Actions in the log">
              {(actions.data ?? []).map((a) => (
                <option key={a} value={a}>
                  {a}
                </option>
              ))}
            </optgroup>
          </NativeSelect>
        </div>
        <div className="grid w-full gap-1.5 sm:w-52">
          <Label htmlFor="audit-actor">Actor</Label>
          <Input
            id="audit-actor"
            placeholder="e-mail contains…"
            value={draft.actor}
            onChange={(e) => setDraft({ ...draft, actor: e.target.value })}
          />
        </div>
        <div className="grid w-full gap-1.5 sm:w-32">
          <Label htmlFor="audit-outcome">Outcome</Label>
          <NativeSelect
            id="audit-outcome"
            value={draft.outcome}
            onChange={(e) => setDraft({ ...draft, outcome: e.target.value as Filters["outcome"] })}
          >
            <option value="">Any</option>
            <option value="ok">ok</option>
            <option value="failed">failed</option>
            <option value="denied">denied</option>
          </NativeSelect>
        </div>
        <div className="grid w-full gap-1.5 sm:w-56">
          <Label htmlFor="audit-from">From</Label>
          <Input
            id="audit-from"
            type="datetime-local"
            value={draft.from}
            onChange={(e) => setDraft({ ...draft, from: e.target.value })}
          />
        </div>
        <div className="grid w-full gap-1.5 sm:w-56">
          <Label htmlFor="audit-to">To</Label>
          <Input
            id="audit-to"
            type="datetime-local"
            value={draft.to}
            onChange={(e) => setDraft({ ...draft, to: e.target.value })}
          />
        </div>
        <div className="flex gap-2">
          <Button type="submit">Apply</Button>
          <Button
            type="button"
            variant="ghost"
            onClick={() => {
              setDraft(EMPTY);
              setFilters(EMPTY);
            }}
          >
            Reset
          </Button>
        </div>
      </form>
      <QueryState
        query={events}
        loading={<Loading label="Loading the audit log…" />}
        isEmpty={() => rows.length === 0}
        empty={<EmptyState title="No events match" description="Change or reset the filters." />}
      >
        {() => (
          <>
            <Table aria-label="Audit events">
              <TableHeader>
                <TableRow>
                  <TableHead>Time</TableHead>
                  <TableHead>Action</TableHead>
                  <TableHead>Actor</TableHead>
                  <TableHead>Target</TableHead>
                  <TableHead>Address</TableHead>
                  <TableHead>Outcome</TableHead>
                  <TableHead>Details</TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {rows.map((e) => (
                  <TableRow key={e.id}>
                    <TableCell className="whitespace-nowrap text-slate-500">{formatDate(e.at)}</TableCell>
                    <TableCell>
                      <code className="text-xs">{e.action}</code>
                    </TableCell>
                    <TableCell className="max-w-48 truncate" title={e.actor ?? ""}>
                      {e.actor ?? "—"}
                    </TableCell>
                    <TableCell className="max-w-56 truncate" title={e.target ?? ""}>
                      {e.target ?? "—"}
                    </TableCell>
                    <TableCell className="text-slate-500">{e.ip ?? "—"}</TableCell>
                    <TableCell>
                      <Badge variant={e.outcome === "ok" ? "success" : e.outcome === "denied" ? "warning" : "danger"}>
                        {e.outcome}
                      </Badge>
                    </TableCell>
                    <TableCell
                      className="max-w-72 truncate font-mono text-xs text-slate-500"
                      title={details(e.details)}
                    >
                      {details(e.details)}
                    </TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
            <div className="flex items-center gap-3">
              {events.hasNextPage ? (
                <Button
                  variant="outline"
                  onClick={() => void events.fetchNextPage()}
                  disabled={events.isFetchingNextPage}
                >
                  {events.isFetchingNextPage ? <Spinner /> : null}
                  Load more
                </Button>
              ) : (
                <span className="text-sm text-slate-500">End of the log ({rows.length} events).</span>
              )}
            </div>
          </>
        )}
      </QueryState>
    </div>
  );
}
