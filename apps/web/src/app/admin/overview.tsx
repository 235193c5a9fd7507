"use client";

import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import {
  Area,
  AreaChart,
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";
import { useTRPC } from "@/trpc/react.tsx";
import { PageHeader } from "@/components/shell/app-shell.tsx";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card.tsx";
import { EmptyState, ErrorState, Skeleton, QueryState } from "@/components/ui/feedback.tsx";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table.tsx";
import { Badge } from "@/components/ui/badge.tsx";
import { errorMessage } from "@/components/ui/errors.ts";
import { formatBytes, formatDate, formatDuration, formatPercent, formatRelative } from "@/components/ui/format.ts";
import { CapacityBar, ChartFrame, NodeStatusBadge, Stat } from "./_components/bits.tsx";
import { useMounted } from "./_components/use-mounted.ts";
import { useReducedMotion } from "./_components/use-reduced-motion.ts";

function bytesTick(v: number): string {
  return formatBytes(v, 0);
}

export function Overview() {
  const trpc = useTRPC();
  const mounted = useMounted();
  const animate = !useReducedMotion();
  const overview = useQuery({ ...trpc.nodes.overview.queryOptions(), refetchInterval: 5_000 });
  const usage = useQuery({ ...trpc.nodes.usage.queryOptions({ hours: 24 }), refetchInterval: 30_000 });

  if (overview.isPending) {
    return (
      <div>
        <PageHeader title="Cluster overview" description="Sites, storage nodes, capacity and replication health." />
        <div className="grid gap-4 sm:grid-cols-2 lg:grid-cols-4" aria-busy="true">
          {Array.from({ length: 8 }, (_, i) => (
            <Skeleton key={i} className="h-24" />
          ))}
        </div>
      </div>
    );
  }
  if (overview.isError) {
    return (
      <div>
        <PageHeader title="Cluster overview" />
        <ErrorState
          title="Could not load the cluster overview"
          message={errorMessage(overview.error)}
          retry={() => void overview.refetch()}
        />
      </div>
    );
  }
  const o = overview.data;
  const s = o.sysinfo;
  const now = new Date(o.now);
  const nodeBars = s.nodes
    .filter((n) => n.status !== "decommissioned")
    // Free is what the node can still store: on a disk shared with other data, less than
    // capacity - used.
    .map((n) => ({ name: n.name, used: n.usedBytes, free: n.availableBytes }));

  return (
    <div className="grid gap-6">
      <PageHeader
        title="Cluster overview"
        description={`Sites, storage nodes, capacity and replication health · updated ${formatDate(o.now)}`}
      />

      <section aria-label="Cluster status" className="grid gap-4 sm:grid-cols-2 lg:grid-cols-4">
        <Stat
          label="Database"
          value={o.database}
          tone={o.database === "ok" ? "good" : "bad"}
          testId="database-status"
        />
        <Stat
          label="Storage nodes"
          value={`${o.nodesActive} of ${o.nodesTotal} active`}
          tone={o.nodesActive === o.nodesTotal ? "good" : "warn"}
          testId="nodes-status"
          hint={`${s.sites.length} site${s.sites.length === 1 ? "" : "s"}`}
        />
        <Stat
          label="Capacity used"
          value={formatPercent(o.totals.usedBytes, o.totals.capacityBytes)}
          hint={`${formatBytes(o.totals.usedBytes)} of ${formatBytes(o.totals.capacityBytes)}`}
        />
        <Stat
          label="Files"
          value={o.totals.files.toLocaleString("en")}
          hint={`${formatBytes(o.totals.logicalBytes)} · ${o.totals.users} users`}
        />
        <Stat label="Chunks" value={s.chunks.toLocaleString("en")} testId="chunk-count" />
        <Stat
          label="Replicas"
          value={s.replicas.toLocaleString("en")}
          hint={`default policy: ${o.defaultReplicas} replicas`}
        />
        <Stat
          label="Under-replicated chunks"
          value={s.underReplicated.toLocaleString("en")}
          tone={s.underReplicated > 0 ? "bad" : "good"}
          testId="under-replicated"
        />
        <Stat
          label="Over-replicated chunks"
          value={s.overReplicated.toLocaleString("en")}
          tone={s.overReplicated > 0 ? "warn" : "good"}
          testId="over-replicated"
        />
      </section>

      <Card>
        <CardHeader>
          <CardTitle>Repair activity</CardTitle>
          <CardDescription>
            {o.repair.note}
            {o.repair.updatedAt ? ` Last report ${formatRelative(o.repair.updatedAt, now)}.` : ""}
          </CardDescription>
        </CardHeader>
        <CardContent className="flex flex-wrap items-center gap-3 text-sm">
          <Badge
            variant={o.repair.state === "repairing" ? "info" : o.repair.state === "stale" ? "warning" : "outline"}
            data-testid="repair-state"
          >
            {o.repair.state}
          </Badge>
          <span>{o.repair.queued} queued</span>
          <span>{o.repair.running} running</span>
          <span>{formatBytes(o.repair.bytesPerSec)}/s</span>
          <span>{o.repair.copiesLastMinute} copies in the last minute</span>
          <span>{o.misplaced} misplaced</span>
          {s.underReplicated > 0 ? (
            <span className="text-rose-700">{s.underReplicated} chunks under-replicated</span>
          ) : (
            <span className="text-slate-500">Nothing under-replicated</span>
          )}
        </CardContent>
      </Card>

      <section aria-labelledby="nodes-heading" className="grid gap-3">
        <h2 id="nodes-heading" className="text-lg font-semibold">
          Storage nodes
        </h2>
        {s.nodes.length === 0 ? (
          <EmptyState
            title="No storage nodes yet"
            description="Start a storage node with the join token (npm run node -- add …)."
          />
        ) : (
          <Table aria-label="Storage nodes">
            <TableHeader>
              <TableRow>
                <TableHead>Node</TableHead>
                <TableHead>Site</TableHead>
                <TableHead>Status</TableHead>
                <TableHead className="min-w-48">Capacity</TableHead>
                <TableHead className="text-right">Chunks</TableHead>
                <TableHead>Last heartbeat</TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {s.nodes.map((n) => (
                <TableRow key={n.id}>
                  <TableCell className="font-medium">
                    <Link href={`/admin/nodes/${n.id}`} className="text-sky-700 hover:underline">
                      {n.name}
                    </Link>
                  </TableCell>
                  <TableCell>{n.site}</TableCell>
                  <TableCell>
                    <span className="inline-flex items-center gap-1.5">
                      <NodeStatusBadge status={n.status} />
                      {n.full ? (
                        <Badge
                          variant="warning"
                          title="Too little free space for new replicas: free space there or add nodes"
                        >
                          full
                        </Badge>
                      ) : null}
                    </span>
                  </TableCell>
                  <TableCell>
                    <CapacityBar used={n.usedBytes} capacity={n.capacityBytes} free={n.availableBytes} />
                  </TableCell>
                  <TableCell className="text-right tabular-nums">{n.chunks.toLocaleString("en")}</TableCell>
                  <TableCell className="text-slate-500">
                    {formatDuration(Math.max(0, now.getTime() - new Date(n.lastHeartbeatAt).getTime()))} ago
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        )}
      </section>

      <div className="grid gap-6 xl:grid-cols-2">
        <Card>
          <CardHeader>
            <CardTitle>Used vs capacity per node</CardTitle>
            <CardDescription>From the nodes&apos; latest heartbeats.</CardDescription>
          </CardHeader>
          <CardContent>
            {nodeBars.length === 0 ? (
              <EmptyState title="No nodes to chart" />
            ) : (
              <ChartFrame label="Used and free bytes per storage node">
                {mounted ? (
                  <ResponsiveContainer width="100%" height="100%">
                    <BarChart data={nodeBars} margin={{ left: 8, right: 8 }}>
                      <CartesianGrid strokeDasharray="3 3" vertical={false} />
                      <XAxis dataKey="name" tick={{ fontSize: 12 }} />
                      <YAxis tickFormatter={bytesTick} tick={{ fontSize: 12 }} width={72} />
                      <Tooltip formatter={(v) => formatBytes(Number(v))} />
                      <Legend />
                      <Bar isAnimationActive={animate} dataKey="used" name="Used" stackId="a" fill="#0284c7" />
                      <Bar isAnimationActive={animate} dataKey="free" name="Free" stackId="a" fill="#cbd5e1" />
                    </BarChart>
                  </ResponsiveContainer>
                ) : (
                  <Skeleton className="h-full w-full" />
                )}
              </ChartFrame>
            )}
          </CardContent>
        </Card>
        <Card>
          <CardHeader>
            <CardTitle>Usage over the last 24 hours</CardTitle>
            <CardDescription>All nodes together, from samples taken every 30 s.</CardDescription>
          </CardHeader>
          <CardContent>
            <QueryState
              query={usage}
              loading={<Skeleton className="h-60 w-full" />}
              isEmpty={(samples) => samples.length < 2}
              empty={
                <EmptyState
                  title="Not enough samples yet"
                  description="Nodes are sampled every 30 seconds; the chart fills in as the cluster runs."
                />
              }
            >
              {(samples) => (
                <ChartFrame label="Used and total capacity over the last 24 hours">
                  {mounted ? (
                    <ResponsiveContainer width="100%" height="100%">
                      <AreaChart
                        data={samples.map((p) => ({ ...p, t: new Date(p.at).getTime() }))}
                        margin={{ left: 8, right: 8 }}
                      >
                        <CartesianGrid strokeDasharray="3 3" vertical={false} />
                        <XAxis
                          dataKey="t"
                          type="number"
                          domain={["dataMin", "dataMax"]}
                          scale="time"
                          tickFormatter={(t: number) => formatDate(new Date(t)).slice(11)}
                          tick={{ fontSize: 12 }}
                        />
                        <YAxis tickFormatter={bytesTick} tick={{ fontSize: 12 }} width={72} />
                        <Tooltip
                          labelFormatter={(t) => formatDate(new Date(Number(t)))}
                          formatter={(v) => formatBytes(Number(v))}
                        />
                        <Legend />
                        <Area
                          isAnimationActive={animate}
                          type="monotone"
                          dataKey="capacityBytes"
                          name="Capacity"
                          stroke="#94a3b8"
                          fill="#e2e8f0"
                        />
                        <Area
                          isAnimationActive={animate}
                          type="monotone"
                          dataKey="usedBytes"
                          name="Used"
                          stroke="#0284c7"
                          fill="#bae6fd"
                        />
                      </AreaChart>
                    </ResponsiveContainer>
                  ) : (
                    <Skeleton className="h-full w-full" />
                  )}
                </ChartFrame>
              )}
            </QueryState>
          </CardContent>
        </Card>
      </div>

      <section aria-labelledby="sites-heading" className="grid gap-3">
        <h2 id="sites-heading" className="text-lg font-semibold">
          Sites
        </h2>
        <ul className="flex flex-wrap gap-3">
          {s.sites.map((site) => (
            <li key={site.name} className="rounded-lg border border-slate-200 bg-white px-4 py-2 text-sm shadow-sm">
              <span className="font-medium">{site.name}</span>{" "}
              <span className="text-slate-500">
                · {site.nodes} node{site.nodes === 1 ? "" : "s"}
              </span>
            </li>
          ))}
          {s.sites.length === 0 ? <li className="text-sm text-slate-500">No sites yet.</li> : null}
        </ul>
      </section>
    </div>
  );
}
