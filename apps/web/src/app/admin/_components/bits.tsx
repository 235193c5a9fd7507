"use client";

import { Badge } from "@/components/ui/badge.tsx";
import { cn } from "@/components/ui/cn.ts";
import { formatBytes, formatPercent } from "@/components/ui/format.ts";

export function NodeStatusBadge({ status }: { status: string }) {
  const variant =
    status === "active" ? "success" : status === "draining" ? "warning" : status === "down" ? "danger" : "outline";
  return <Badge variant={variant}>{status}</Badge>;
}

/** Used / capacity with a bar; the bar has an accessible description. */
export function CapacityBar({
  used,
  capacity,
  free,
  className,
}: {
  used: number;
  capacity: number;
  /** What can still be stored, when the disk's free space says less than capacity - used. */
  free?: number;
  className?: string;
}) {
  const pct = capacity > 0 ? Math.min(100, (used / capacity) * 100) : 0;
  return (
    <div className={cn("grid gap-1", className)}>
      <div
        role="meter"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.round(pct)}
        aria-label={`${formatBytes(used)} used of ${formatBytes(capacity)}`}
        className="h-2 w-full overflow-hidden rounded-full bg-slate-100"
      >
        <div
          className={cn("h-full rounded-full", pct > 90 ? "bg-rose-500" : pct > 75 ? "bg-amber-500" : "bg-sky-500")}
          style={{ width: `${pct}%` }}
        />
      </div>
      <span className="text-xs text-slate-500">
        {formatBytes(used)} of {formatBytes(capacity)} ({formatPercent(used, capacity)})
        {free !== undefined && free < capacity - used ? ` · ${formatBytes(free)} free on its disk` : null}
      </span>
    </div>
  );
}

export function Stat({
  label,
  value,
  hint,
  tone = "default",
  testId,
}: {
  label: string;
  value: React.ReactNode;
  hint?: React.ReactNode;
  tone?: "default" | "good" | "warn" | "bad";
  testId?: string;
}) {
  return (
    <div className="rounded-xl border border-slate-200 bg-white p-4 shadow-sm">
      <p className="text-sm text-slate-500">{label}</p>
      <p
        data-testid={testId}
        className={cn(
          "mt-1 text-2xl font-semibold tabular-nums",
          tone === "good" && "text-emerald-700",
          tone === "warn" && "text-amber-700",
          tone === "bad" && "text-rose-700",
        )}
      >
        {value}
      </p>
      {hint ? <p className="mt-1 text-xs text-slate-500">{hint}</p> : null}
    </div>
  );
}

/** A fixed-size box that renders its (chart) children only in the browser, after mount. */
export function ChartFrame({
  label,
  height = 240,
  children,
}: {
  label: string;
  height?: number;
  children: React.ReactNode;
}) {
  return (
    <figure aria-label={label} className="w-full" style={{ height }}>
      {children}
    </figure>
  );
}
