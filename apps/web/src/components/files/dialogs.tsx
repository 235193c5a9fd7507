"use client";

import { useEffect, useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ChevronRight, Download, Folder, History, RotateCcw } from "lucide-react";
import { useTRPC } from "@/trpc/react.tsx";
import { Button } from "@/components/ui/button.tsx";
import { Input } from "@/components/ui/input.tsx";
import { Label } from "@/components/ui/label.tsx";
import { Badge } from "@/components/ui/badge.tsx";
import { Alert, Loading } from "@/components/ui/feedback.tsx";
import { useToast } from "@/components/ui/toast.tsx";
import {
  Dialog,
  DialogContent,
  DialogDescription,
  DialogFooter,
  DialogHeader,
  DialogTitle,
} from "@/components/ui/dialog.tsx";
import {
  AlertDialog,
  AlertDialogAction,
  AlertDialogCancel,
  AlertDialogContent,
  AlertDialogDescription,
  AlertDialogFooter,
  AlertDialogHeader,
  AlertDialogTitle,
} from "@/components/ui/alert-dialog.tsx";
import {
  baseName,
  errorMessage,
  formatBytes,
  formatDate,
  gatewayHref,
  joinPath,
  parentPath,
  splitPath,
} from "./format.ts";
import type { FileEntry } from "./types.ts";
import { refreshQueries } from "@/trpc/refresh.ts";

function useInvalidateFiles() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  return () => refreshQueries(qc, trpc.files.pathFilter());
}

/** A name prompt (new folder, rename). */
function NameDialog({
  open,
  onOpenChange,
  title,
  description,
  initial,
  submitLabel,
  busy,
  error,
  onSubmit,
}: {
  open: boolean;
  onOpenChange(open: boolean): void;
  title: string;
  description: string;
  initial: string;
  submitLabel: string;
  busy: boolean;
  error: string | null;
  onSubmit(name: string): void;
}) {
  const [name, setName] = useState(initial);
  useEffect(() => {
    if (open) setName(initial);
  }, [open, initial]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (name.trim()) onSubmit(name.trim());
  };
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent>
        <form onSubmit={submit} className="grid gap-4">
          <DialogHeader>
            <DialogTitle>{title}</DialogTitle>
            <DialogDescription>{description}</DialogDescription>
          </DialogHeader>
          <div className="grid gap-2">
            <Label htmlFor="entry-name">Name</Label>
            <Input
              id="entry-name"
              value={name}
              autoFocus
              onFocus={(e) => {
                const dot = e.currentTarget.value.lastIndexOf(".");
                e.currentTarget.setSelectionRange(0, dot > 0 ? dot : e.currentTarget.value.length);
              }}
              onChange={(e) => setName(e.target.value)}
              aria-invalid={error ? true : undefined}
            />
            {error ? <Alert variant="error">{error}</Alert> : null}
          </div>
          <DialogFooter>
            <Button variant="outline" onClick={() => onOpenChange(false)}>
              Cancel
            </Button>
            <Button type="submit" disabled={busy || !name.trim()}>
              {submitLabel}
            </Button>
          </DialogFooter>
        </form>
      </DialogContent>
    </Dialog>
  );
}

export function NewFolderDialog({
  folder,
  open,
  onOpenChange,
}: {
  folder: string;
  open: boolean;
  onOpenChange(open: boolean): void;
}) {
  const trpc = useTRPC();
  const invalidate = useInvalidateFiles();
  const toast = useToast();
  const m = useMutation(
    trpc.files.mkdir.mutationOptions({
      onSuccess: (e) => {
        void invalidate();
        onOpenChange(false);
        toast({ title: `Created ${e.name}`, variant: "success" });
      },
    }),
  );
  useEffect(() => {
    if (open) m.reset();
  }, [open]);
  return (
    <NameDialog
      open={open}
      onOpenChange={onOpenChange}
      title="New folder"
      description={`In ${folder}`}
      initial="New folder"
      submitLabel="Create"
      busy={m.isPending}
      error={m.error ? errorMessage(m.error) : null}
      onSubmit={(name) => m.mutate({ path: joinPath(folder, name), parents: false })}
    />
  );
}

export function RenameDialog({
  entry,
  onOpenChange,
  onRenamed,
}: {
  entry: FileEntry | null;
  onOpenChange(open: boolean): void;
  onRenamed?(path: string): void;
}) {
  const trpc = useTRPC();
  const invalidate = useInvalidateFiles();
  const m = useMutation(
    trpc.files.move.mutationOptions({
      onSuccess: (e) => {
        void invalidate();
        onOpenChange(false);
        onRenamed?.(e.path);
      },
    }),
  );
  useEffect(() => {
    if (entry) m.reset();
  }, [entry]);
  return (
    <NameDialog
      open={entry !== null}
      onOpenChange={onOpenChange}
      title={`Rename ${entry?.type ?? ""}`}
      description={entry ? `Currently ${entry.name}` : ""}
      initial={entry?.name ?? ""}
      submitLabel="Rename"
      busy={m.isPending}
      error={m.error ? errorMessage(m.error) : null}
      onSubmit={(name) => entry && m.mutate({ from: entry.path, to: joinPath(parentPath(entry.path), name) })}
    />
  );
}

/** Pick a destination folder by browsing; moves the entry there keeping its name. */
export function MoveDialog({ entry, onOpenChange }: { entry: FileEntry | null; onOpenChange(open: boolean): void }) {
  const trpc = useTRPC();
  const invalidate = useInvalidateFiles();
  const toast = useToast();
  const [at, setAt] = useState("/");
  useEffect(() => {
    if (entry) setAt(parentPath(entry.path));
  }, [entry]);
  const listing = useQuery({ ...trpc.files.list.queryOptions({ path: at }), enabled: entry !== null });
  const m = useMutation(
    trpc.files.move.mutationOptions({
      onSuccess: (e) => {
        void invalidate();
        onOpenChange(false);
        toast({ title: `Moved to ${parentPath(e.path)}`, variant: "success" });
      },
    }),
  );
  useEffect(() => {
    if (entry) m.reset();
  }, [entry]);
  const folders = (listing.data?.entries ?? []).filter((e) => e.type === "folder" && e.id !== entry?.id);
  const crumbs = splitPath(at);
  const same = entry ? parentPath(entry.path) === at : true;
  const inside = entry ? at === entry.path || at.startsWith(`${entry.path}/`) : false;
  return (
    <Dialog open={entry !== null} onOpenChange={onOpenChange}>
      <DialogContent className="max-w-xl">
        <DialogHeader>
          <DialogTitle>Move {entry?.name}</DialogTitle>
          <DialogDescription>Choose the folder to move it to.</DialogDescription>
        </DialogHeader>
        <nav aria-label="Destination" className="flex flex-wrap items-center gap-1 text-sm">
          <button type="button" className="rounded px-1 text-sky-700 hover:underline" onClick={() => setAt("/")}>
            All files
          </button>
          {crumbs.map((c, i) => (
            <span key={i} className="inline-flex items-center gap-1">
              <ChevronRight className="size-3 text-slate-400" aria-hidden />
              <button
                type="button"
                className="rounded px-1 text-sky-700 hover:underline"
                onClick={() => setAt("/" + crumbs.slice(0, i + 1).join("/"))}
              >
                {c}
              </button>
            </span>
          ))}
        </nav>
        <div className="h-64 overflow-y-auto rounded-lg border border-slate-200" role="list" aria-label="Folders">
          {listing.isPending ? (
            <Loading />
          ) : listing.error ? (
            <Alert variant="error" className="m-3">
              {errorMessage(listing.error)}
            </Alert>
          ) : folders.length === 0 ? (
            <p className="p-4 text-sm text-slate-500">No folders here.</p>
          ) : (
            folders.map((f) => (
              <button
                key={f.id}
                type="button"
                role="listitem"
                className="flex w-full items-center gap-2 border-b border-slate-100 px-3 py-2 text-left text-sm hover:bg-slate-50"
                onClick={() => setAt(f.path)}
              >
                <Folder className="size-4 fill-sky-100 text-sky-600" aria-hidden />
                <span className="flex-1 truncate">{f.name}</span>
                <ChevronRight className="size-4 text-slate-400" aria-hidden />
              </button>
            ))
          )}
        </div>
        {m.error ? <Alert variant="error">{errorMessage(m.error)}</Alert> : null}
        <DialogFooter>
          <Button variant="outline" onClick={() => onOpenChange(false)}>
            Cancel
          </Button>
          <Button
            disabled={
              !entry ||
              same ||
              inside ||
              m.isPending ||
              // Until the folder is listed, whether the user may write there is unknown.
              listing.isPending ||
              listing.data?.permission === "read" ||
              listing.data?.permission === "none"
            }
            onClick={() => entry && m.mutate({ from: entry.path, to: joinPath(at, entry.name) })}
          >
            Move here
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}

/** "Move to the trash?" — Delete key and the Delete action. */
export function DeleteDialog({
  entry,
  onOpenChange,
  onDeleted,
}: {
  entry: FileEntry | null;
  onOpenChange(open: boolean): void;
  onDeleted?(): void;
}) {
  const trpc = useTRPC();
  const invalidate = useInvalidateFiles();
  const toast = useToast();
  const m = useMutation(
    trpc.files.delete.mutationOptions({
      onSuccess: (t) => {
        void invalidate();
        onOpenChange(false);
        onDeleted?.();
        toast({ title: `Moved ${t.name} to the trash`, description: "You can restore it from the Trash." });
      },
      onError: (err) => toast({ title: "Could not delete", description: errorMessage(err), variant: "error" }),
    }),
  );
  return (
    <AlertDialog open={entry !== null} onOpenChange={onOpenChange}>
      <AlertDialogContent>
        <AlertDialogHeader>
          <AlertDialogTitle>Move {entry?.name} to the trash?</AlertDialogTitle>
          <AlertDialogDescription>
            {entry?.type === "folder"
              ? "The folder and everything in it go to the trash. You can restore them from there."
              : "You can restore it from the trash."}
          </AlertDialogDescription>
        </AlertDialogHeader>
        <AlertDialogFooter>
          <AlertDialogCancel>Cancel</AlertDialogCancel>
          <AlertDialogAction
            destructive
            disabled={m.isPending}
            onClick={(e) => {
              e.preventDefault();
              if (entry) m.mutate({ path: entry.path, recursive: true });
            }}
          >
            Move to trash
          </AlertDialogAction>
        </AlertDialogFooter>
      </AlertDialogContent>
    </AlertDialog>
  );
}

/** Every version of a file, with download and restore. */
export function VersionsDialog({ path, onOpenChange }: { path: string | null; onOpenChange(open: boolean): void }) {
  const trpc = useTRPC();
  const invalidate = useInvalidateFiles();
  const toast = useToast();
  const q = useQuery({ ...trpc.files.versions.queryOptions({ path: path ?? "/" }), enabled: path !== null });
  const m = useMutation(
    trpc.files.restoreVersion.mutationOptions({
      onSuccess: (r, vars) => {
        void invalidate();
        toast({ title: `Restored version ${vars.version} as version ${r.version}`, variant: "success" });
      },
      onError: (err) => toast({ title: "Could not restore", description: errorMessage(err), variant: "error" }),
    }),
  );
  const versions = [...(q.data?.versions ?? [])].reverse();
  return (
    <Dialog open={path !== null} onOpenChange={onOpenChange}>
      <DialogContent className="max-w-2xl">
        <DialogHeader>
          <DialogTitle className="flex items-center gap-2">
            <History className="size-5 text-slate-500" aria-hidden /> Version history
          </DialogTitle>
          <DialogDescription>{path ? baseName(path) : ""}</DialogDescription>
        </DialogHeader>
        {q.isPending ? (
          <Loading />
        ) : q.error ? (
          <Alert variant="error">{errorMessage(q.error)}</Alert>
        ) : (
          <ul className="divide-y divide-slate-100 rounded-lg border border-slate-200" aria-label="Versions">
            {versions.map((v) => (
              <li
                key={v.number}
                aria-label={`Version ${v.number}`}
                className="flex items-center gap-3 px-3 py-2 text-sm"
              >
                <span className="w-12 font-medium">v{v.number}</span>
                <span className="flex-1 text-slate-600">
                  {formatDate(v.createdAt)}
                  {v.createdBy ? ` · ${v.createdBy}` : ""}
                </span>
                <span className="w-20 text-right tabular-nums text-slate-600">{formatBytes(v.size)}</span>
                {v.current ? (
                  <Badge variant="success">Current</Badge>
                ) : (
                  <Button
                    size="sm"
                    variant="outline"
                    disabled={m.isPending}
                    onClick={() => path && m.mutate({ path, version: v.number })}
                  >
                    <RotateCcw aria-hidden /> Restore
                  </Button>
                )}
                <Button asChild size="icon" variant="ghost" aria-label={`Download version ${v.number}`}>
                  <a href={path ? gatewayHref(path, { version: v.number }) : "#"} download>
                    <Download aria-hidden />
                  </a>
                </Button>
              </li>
            ))}
          </ul>
        )}
      </DialogContent>
    </Dialog>
  );
}
