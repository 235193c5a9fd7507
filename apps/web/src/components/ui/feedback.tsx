import { AlertTriangle, Inbox, Loader2 } from "lucide-react";
import type { ComponentProps, ReactNode } from "react";
import { cn } from "./cn.ts";
import { errorMessage } from "./errors.ts";

/** A grey placeholder block while content loads. */
export function Skeleton({ className, ...props }: ComponentProps<"div">) {
  return <div aria-hidden className={cn("animate-pulse rounded-md bg-slate-200/70", className)} {...props} />;
}

/** "Loading…" with a spinner, announced politely to screen readers. */
export function Loading({ label = "Loading…", className }: { label?: string; className?: string }) {
  return (
    <div role="status" className={cn("flex items-center gap-2 py-6 text-sm text-slate-500", className)}>
      <Loader2 className="size-4 animate-spin" aria-hidden />
      {label}
    </div>
  );
}

export function Spinner({ className }: { className?: string }) {
  return <Loader2 className={cn("size-4 animate-spin", className)} aria-hidden />;
}

/** An error box; `retry` shows a "Try again" button. */
export function ErrorState({
  title = "Something went wrong",
  message,
  retry,
  className,
}: {
  title?: string;
  message?: ReactNode;
  retry?: () => void;
  className?: string;
}) {
  return (
    <div
      role="alert"
      className={cn("flex items-start gap-3 rounded-lg border border-rose-200 bg-rose-50 p-4 text-sm", className)}
    >
      <AlertTriangle className="mt-0.5 size-4 shrink-0 text-rose-600" aria-hidden />
      <div className="grid gap-1">
        <p className="font-medium text-rose-800">{title}</p>
        {message ? <p className="text-rose-700">{message}</p> : null}
        {retry ? (
          <button
            type="button"
            onClick={retry}
            className="w-fit text-sm font-medium text-rose-800 underline underline-offset-2 hover:text-rose-950"
          >
            Try again
          </button>
        ) : null}
      </div>
    </div>
  );
}

export function EmptyState({
  title,
  description,
  icon,
  className,
  children,
}: {
  title: string;
  description?: ReactNode;
  icon?: ReactNode;
  className?: string;
  children?: ReactNode;
}) {
  return (
    <div
      className={cn(
        "flex flex-col items-center justify-center gap-2 rounded-xl border border-dashed border-slate-300 px-6 py-10 text-center",
        className,
      )}
    >
      <div className="text-slate-400">{icon ?? <Inbox className="size-8" aria-hidden />}</div>
      <p className="font-medium text-slate-700">{title}</p>
      {description ? <p className="max-w-sm text-sm text-slate-500">{description}</p> : null}
      {children}
    </div>
  );
}

/** An inline notice (info / warning / error / success). */
export function Alert({
  variant = "info",
  className,
  ...props
}: ComponentProps<"div"> & { variant?: "info" | "warning" | "error" | "success" }) {
  return (
    <div
      role={variant === "error" ? "alert" : "status"}
      className={cn(
        "rounded-lg border px-4 py-3 text-sm",
        variant === "info" && "border-sky-200 bg-sky-50 text-sky-900",
        variant === "warning" && "border-amber-200 bg-amber-50 text-amber-900",
        variant === "error" && "border-rose-200 bg-rose-50 text-rose-800",
        variant === "success" && "border-emerald-200 bg-emerald-50 text-emerald-900",
        className,
      )}
      {...props}
    />
  );
}

/** What QueryState needs of a TanStack query (tRPC's useQuery results have it). */
type QueryLike<T> = { isPending: boolean; error: unknown; data: T | undefined; refetch: () => unknown };

/**
 * The four faces of a query's content: loading, an error with "Try again", empty, and the
 * data. `isEmpty` and `empty` together give the empty face; without them data is shown.
 */
export function QueryState<T>({
  query,
  loading,
  errorClassName,
  isEmpty,
  empty,
  children,
}: {
  query: QueryLike<T>;
  /** Shown while loading; a plain "Loading…" line by default. */
  loading?: ReactNode;
  errorClassName?: string;
  isEmpty?: (data: T) => boolean;
  empty?: ReactNode;
  children: (data: T) => ReactNode;
}) {
  if (query.isPending) return <>{loading ?? <Loading />}</>;
  if (query.error || query.data === undefined)
    return (
      <ErrorState className={errorClassName} message={errorMessage(query.error)} retry={() => void query.refetch()} />
    );
  if (isEmpty?.(query.data)) return <>{empty}</>;
  return <>{children(query.data)}</>;
}
