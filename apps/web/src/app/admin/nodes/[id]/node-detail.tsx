"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { CartesianGrid, Line, LineChart, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { useTRPC } from "@/trpc/react.tsx";
import { PageHeader } from "@/components/shell/app-shell.tsx";
import { Button } from "@/components/ui/button.tsx";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card.tsx";
import { Alert, EmptyState, ErrorState, Skeleton } from "@/components/ui/feedback.tsx";
import { ConfirmDialog } from "@/components/ui/alert-dialog.tsx";
import { useToast } from "@/components/ui/toast.tsx";
import { errorCode, errorMessage } from "@/components/ui/errors.ts";
import { formatBytes, formatDate, formatDuration } from "@/components/ui/format.ts";
import { CapacityBar, ChartFrame, NodeStatusBadge, Stat } from "../../_components/bits.tsx";
import { useMounted } from "../../_components/use-mounted.ts";
import { useReducedMotion } from "../../_components/use-reduced-motion.ts";
import { refreshQueries } from "@/trpc/refresh.ts";

type Target = "draining" | "decommissioned" | "active";

const ACTIONS: Record<Target, { label: string; title: string; body: string; destructive: boolean }> = {
  draining: {
    label: "Drain",
    title: "Drain this node?",
    body: "A draining node keeps serving reads but receives no new replicas; the reconciler copies each of its chunks to where placement wants it and only then deletes the copy here. Nothing is under-replicated meanwhile.",
    destructive: false,
  },
  active: {
    label: "Cancel drain",
    title: "Make this node active again?",
    body: "It will receive new replicas again.",
    destructive: false,
  },
  decommissioned: {
    label: "Decommission",
    title: "Decommission this node?",
    body: "The node leaves the cluster: its heartbeats are refused and the cluster forgets what it held. This is refused while any chunk still needs its copy (drain it first and wait). It cannot be undone from the dashboard.",
    destructive: true,
  },
};

function StatusAction({ id, name, target }: { id: string; name: string; target: Target }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const a = ACTIONS[target];
  const set = useMutation(
    trpc.nodes.setStatus.mutationOptions({
      onSuccess: (r) => {
        toast({ title: `${name} is now ${r.status}`, variant: "success" });
        void refreshQueries(qc, { queryKey: trpc.nodes.pathKey() });
      },
      onError: (err) => toast({ title: `Could not change ${name}`, description: errorMessage(err), variant: "error" }),
    }),
  );
  return (
    <ConfirmDialog
      trigger={
        <Button variant={a.destructive ? "destructive" : "outline"} disabled={set.isPending}>
          {a.label}
        </Button>
      }
      title={a.title}
      description={
        <>
          <strong className="font-medium text-slate-800">{name}</strong>: {a.body}
        </>
      }
      action={a.label}
      destructive={a.destructive}
      onConfirm={() => set.mutate({ id, status: target })}
    />
  );
}

function Fact({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <>
      <dt className="text-slate-500">{label}</dt>
      <dd className="min-w-0 break-words">{children}</dd>
    </>
  );
}

export function NodeDetailView({ id }: { id: string }) {
  const trpc = useTRPC();
  const mounted = useMounted();
  const animate = !useReducedMotion();
  const node = useQuery({
    ...trpc.nodes.get.queryOptions({ id }),
    refetchInterval: 5_000,
    retry: (n, err) => errorCode(err) !== "NOT_FOUND" && n < 2,
  });

  if (node.isPending) {
    return (
      <div className="grid gap-4" aria-busy="true">
        <Skeleton className="h-10 w-64" />
        <div className="grid gap-4 sm:grid-cols-2 lg:grid-cols-4">
          {Array.from({ length: 4 }, (_, i) => (
            <Skeleton key={i} className="h-24" />
          ))}
        </div>
      </div>
    );
  }
  if (node.isError) {
    return (
      <div>
        <PageHeader title="Storage node" back={{ href: "/admin", label: "Overview" }} />
        <ErrorState
          title="Could not load this node"
          message={errorMessage(node.error)}
          retry={() => void node.refetch()}
        />
      </div>
    );
  }
  const n = node.data;
  const targets: Target[] =
    n.status === "active" || n.status === "down"
      ? ["draining", "decommissioned"]
      : n.status === "draining"
        ? ["active", "decommissioned"]
        : [];
  const chart = n.samples.map((s) => ({
    t: new Date(s.at).getTime(),
    used: s.usedBytes,
    capacity: s.capacityBytes,
    cpu: s.cpu,
  }));

  return (
    <div className="grid gap-6">
      <PageHeader
        back={{ href: "/admin", label: "Overview" }}
        title={
          <span className="flex items-center gap-3">
            {n.name} <NodeStatusBadge status={n.silent ? "down" : n.status} />
          </span>
        }
        description={`Site ${n.site} · ${n.dataUrl}`}
        actions={targets.map((t) => (
          <StatusAction key={t} id={n.id} name={n.name} target={t} />
        ))}
      />
      {n.silent ? (
        <Alert variant="error">
          No heartbeat for {formatDuration(n.heartbeatAgeMs)} (timeout {formatDuration(n.nodeTimeoutMs)}): the node is
          treated as down.
        </Alert>
      ) : null}
      {n.status === "draining" ? (
        <Alert variant="warning" data-testid="drain-status">
          Draining: no new replicas go to this node while the reconciler moves its chunks away.{" "}
          {n.drain
            ? n.drain.drained
              ? "Done: nothing here is needed any more; it can be decommissioned."
              : `${n.drain.needed} chunk${n.drain.needed === 1 ? "" : "s"} still need this node's copy${n.drain.soleCopies > 0 ? ` (${n.drain.soleCopies} of them the only copy)` : ""}.`
            : null}
        </Alert>
      ) : null}

      <section aria-label="Node status" className="grid gap-4 sm:grid-cols-2 lg:grid-cols-4">
        <Stat
          label="Last heartbeat"
          value={`${formatDuration(Math.max(0, n.heartbeatAgeMs))} ago`}
          tone={n.silent ? "bad" : "good"}
          hint={formatDate(n.lastHeartbeatAt)}
          testId="heartbeat-age"
        />
        <Stat
          label="Chunks"
          value={n.chunkCount.toLocaleString("en")}
          hint={`${n.replicas.stored} replicas recorded`}
          testId="node-chunks"
        />
        <Stat
          label="Load (CPU)"
          value={n.load.cpu === null ? "—" : n.load.cpu.toFixed(2)}
          hint={`${n.load.inflightRequests ?? 0} requests in flight · in ${formatBytes(n.load.bytesInPerSec ?? 0)}/s · out ${formatBytes(n.load.bytesOutPerSec ?? 0)}/s`}
        />
        <Stat label="Epoch" value={n.epoch} hint="Increases at every registration" testId="node-epoch" />
      </section>

      <div className="grid gap-6 lg:grid-cols-2">
        <Card>
          <CardHeader>
            <CardTitle>Capacity</CardTitle>
          </CardHeader>
          <CardContent className="grid gap-4">
            <CapacityBar used={n.usedBytes} capacity={n.capacityBytes} />
            <dl className="grid grid-cols-[10rem_1fr] gap-y-2 text-sm">
              <Fact label="Stored replicas">{n.replicas.stored.toLocaleString("en")}</Fact>
              <Fact label="Corrupt replicas">{n.replicas.corrupt.toLocaleString("en")}</Fact>
              <Fact label="Being deleted">{n.replicas.deleting.toLocaleString("en")}</Fact>
            </dl>
          </CardContent>
        </Card>
        <Card>
          <CardHeader>
            <CardTitle>Registration</CardTitle>
          </CardHeader>
          <CardContent>
            <dl className="grid grid-cols-[10rem_1fr] gap-y-2 text-sm">
              <Fact label="Node id">
                <code className="text-xs">{n.id}</code>
              </Fact>
              <Fact label="Data URL">{n.dataUrl}</Fact>
              <Fact label="UDT address">{n.udtAddress ?? "—"}</Fact>
              <Fact label="Version">{n.version || "—"}</Fact>
              <Fact label="Registered">{formatDate(n.registeredAt)}</Fact>
              <Fact label="First joined">{formatDate(n.createdAt)}</Fact>
            </dl>
          </CardContent>
        </Card>
      </div>

      <Card>
        <CardHeader>
          <CardTitle>Last 24 hours</CardTitle>
          <CardDescription>Used bytes and CPU load, sampled every 30 s.</CardDescription>
        </CardHeader>
        <CardContent>
          {chart.length < 2 ? (
            <EmptyState title="Not enough samples yet" description="The chart fills in as the node sends heartbeats." />
          ) : (
            <ChartFrame label={`Used bytes and CPU load of ${n.name} over the last 24 hours`}>
              {mounted ? (
                <ResponsiveContainer width="100%" height="100%">
                  <LineChart data={chart} margin={{ left: 8, right: 8 }}>
                    <CartesianGrid strokeDasharray="3 3" vertical={false} />
                    <XAxis
                      dataKey="t"
                      type="number"
                      scale="time"
                      domain={["dataMin", "dataMax"]}
                      tickFormatter={(t: number) => formatDate(new Date(t)).slice(11)}
                      tick={{ fontSize: 12 }}
                    />
                    <YAxis
                      yAxisId="b"
                      tickFormatter={(v: number) => formatBytes(v, 0)}
                      tick={{ fontSize: 12 }}
                      width={72}
                    />
                    <YAxis yAxisId="c" orientation="right" tick={{ fontSize: 12 }} width={40} />
                    <Tooltip
                      labelFormatter={(t) => formatDate(new Date(Number(t)))}
                      formatter={(v, name) => (name === "CPU" ? Number(v).toFixed(2) : formatBytes(Number(v)))}
                    />
                    <Legend />
                    <Line
                      isAnimationActive={animate}
                      yAxisId="b"
                      type="monotone"
                      dataKey="used"
                      name="Used"
                      stroke="#0284c7"
                      dot={false}
                    />
                    <Line
                      isAnimationActive={animate}
                      yAxisId="c"
                      type="monotone"
                      dataKey="cpu"
                      name="CPU"
                      stroke="#f59e0b"
                      dot={false}
                    />
                  </LineChart>
                </ResponsiveContainer>
              ) : (
                <Skeleton className="h-full w-full" />
              )}
            </ChartFrame>
          )}
        </CardContent>
      </Card>
    </div>
  );
}
