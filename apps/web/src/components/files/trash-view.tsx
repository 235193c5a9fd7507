"use client";

import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { RotateCcw, Trash2 } from "lucide-react";
import { useTRPC } from "@/trpc/react.tsx";
import { Button } from "@/components/ui/button.tsx";
import { EmptyState, QueryState } from "@/components/ui/feedback.tsx";
import { useToast } from "@/components/ui/toast.tsx";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table.tsx";
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
import { PageHeader } from "@/components/shell/app-shell.tsx";
import { EntryIcon } from "./file-list.tsx";
import { errorMessage, formatBytes, formatDate, parentPath } from "./format.ts";
import type { TrashItem } from "./types.ts";
import { refreshQueries } from "@/trpc/refresh.ts";

/** What the user deleted (or may restore): restore puts it back, delete forever purges it. */
export function TrashView() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const q = useQuery(trpc.files.trash.queryOptions());
  const [purging, setPurging] = useState<TrashItem | null>(null);
  const refresh = () => void refreshQueries(qc, trpc.files.pathFilter());
  const restore = useMutation(
    trpc.files.restore.mutationOptions({
      onSuccess: (e) => {
        refresh();
        toast({ title: `Restored ${e.name}`, description: `Back in ${parentPath(e.path)}`, variant: "success" });
      },
      onError: (err) => toast({ title: "Could not restore", description: errorMessage(err), variant: "error" }),
    }),
  );
  const purge = useMutation(
    trpc.files.purge.mutationOptions({
      onSuccess: (r) => {
        refresh();
        setPurging(null);
        toast({ title: `Deleted ${r.path} for good` });
      },
      onError: (err) => toast({ title: "Could not delete", description: errorMessage(err), variant: "error" }),
    }),
  );
  return (
    <div>
      <PageHeader
        title="Trash"
        description="Deleted files and folders stay here until you restore them or delete them for good."
      />
      <QueryState
        query={q}
        isEmpty={(data) => data.items.length === 0}
        empty={<EmptyState title="The trash is empty" icon={<Trash2 className="size-8" aria-hidden />} />}
      >
        {(data) => (
          <Table aria-label="Trash">
            <TableHeader>
              <TableRow>
                <TableHead>Name</TableHead>
                <TableHead>Was in</TableHead>
                <TableHead className="text-right">Size</TableHead>
                <TableHead>Deleted</TableHead>
                <TableHead className="text-right">
                  <span className="sr-only">Actions</span>
                </TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {data.items.map((it) => (
                <TableRow key={it.id} aria-label={it.name}>
                  <TableCell>
                    <span className="flex items-center gap-2 font-medium">
                      <EntryIcon entry={it} /> {it.name}
                    </span>
                  </TableCell>
                  <TableCell className="text-slate-600">{parentPath(it.originalPath)}</TableCell>
                  <TableCell className="text-right tabular-nums text-slate-600">
                    {it.type === "folder" ? "—" : formatBytes(it.size)}
                  </TableCell>
                  <TableCell className="text-slate-600">{formatDate(it.trashedAt)}</TableCell>
                  <TableCell className="text-right">
                    <div className="flex justify-end gap-2">
                      <Button
                        size="sm"
                        variant="outline"
                        aria-label={`Restore ${it.name}`}
                        disabled={restore.isPending}
                        onClick={() => restore.mutate({ id: it.id })}
                      >
                        <RotateCcw aria-hidden /> Restore
                      </Button>
                      <Button
                        size="sm"
                        variant="ghost"
                        aria-label={`Delete ${it.name} forever`}
                        onClick={() => setPurging(it)}
                      >
                        <Trash2 aria-hidden /> Delete forever
                      </Button>
                    </div>
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        )}
      </QueryState>
      <AlertDialog open={purging !== null} onOpenChange={(o) => !o && setPurging(null)}>
        <AlertDialogContent>
          <AlertDialogHeader>
            <AlertDialogTitle>Delete {purging?.name} forever?</AlertDialogTitle>
            <AlertDialogDescription>
              {purging?.type === "folder"
                ? "The folder and everything in it, with every version, "
                : "The file and every version of it "}
              will be gone for good. This cannot be undone.
            </AlertDialogDescription>
          </AlertDialogHeader>
          <AlertDialogFooter>
            <AlertDialogCancel>Cancel</AlertDialogCancel>
            <AlertDialogAction
              destructive
              disabled={purge.isPending}
              onClick={(e) => {
                e.preventDefault();
                if (purging) purge.mutate({ id: purging.id });
              }}
            >
              Delete forever
            </AlertDialogAction>
          </AlertDialogFooter>
        </AlertDialogContent>
      </AlertDialog>
    </div>
  );
}
