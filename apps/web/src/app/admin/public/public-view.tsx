"use client";

import Link from "next/link";
import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Globe } from "lucide-react";
import { useTRPC } from "@/trpc/react.tsx";
import { PageHeader } from "@/components/shell/app-shell.tsx";
import { Button } from "@/components/ui/button.tsx";
import { Input } from "@/components/ui/input.tsx";
import { Label } from "@/components/ui/label.tsx";
import { Badge } from "@/components/ui/badge.tsx";
import { EmptyState, Loading, QueryState } from "@/components/ui/feedback.tsx";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table.tsx";
import { useToast } from "@/components/ui/toast.tsx";
import { errorMessage } from "@/components/ui/errors.ts";
import { formatDate } from "@/components/ui/format.ts";
import { refreshQueries } from "@/trpc/refresh.ts";

export function publicHref(path: string): string {
  return "/public" + path.split("/").map(encodeURIComponent).join("/");
}

export function PublicAdminView() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const entries = useQuery(trpc.policies.publicEntries.queryOptions());
  const [path, setPath] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const set = useMutation(
    trpc.policies.setPublic.mutationOptions({
      onSuccess: (r) => {
        toast({ title: `${r.path} is now ${r.isPublic ? "public" : "private"}`, variant: "success" });
        setPath("");
        void refreshQueries(qc, { queryKey: trpc.policies.publicEntries.queryKey() });
      },
      onError: (err) => setProblem(errorMessage(err)),
    }),
  );
  function onSubmit(e: FormEvent) {
    e.preventDefault();
    setProblem(null);
    const p = path.trim();
    set.mutate({ path: p.startsWith("/") ? p : `/${p}`, isPublic: true });
  }
  return (
    <div className="grid gap-6">
      <PageHeader
        title="Public area"
        description="Folders marked public can be listed and downloaded by anyone, without an account, read-only."
        actions={
          <Button variant="outline" asChild>
            <Link href="/public">
              <Globe aria-hidden /> Open the public area
            </Link>
          </Button>
        }
      />
      <form onSubmit={onSubmit} className="flex flex-wrap items-end gap-2">
        <div className="grid min-w-72 flex-1 gap-1.5">
          <Label htmlFor="public-path">Folder path</Label>
          <Input
            id="public-path"
            required
            placeholder="/home/alice/Press kit"
            value={path}
            onChange={(e) => setPath(e.target.value)}
          />
        </div>
        <Button type="submit" disabled={set.isPending}>
          Make public
        </Button>
        {problem ? (
          <p role="alert" className="w-full text-sm text-rose-700">
            {problem}
          </p>
        ) : null}
      </form>
      <QueryState
        query={entries}
        loading={<Loading label="Loading public entries…" />}
        isEmpty={(data) => data.length === 0}
        empty={<EmptyState title="Nothing is public" description="Everything needs an account." />}
      >
        {(data) => (
          <Table aria-label="Public entries">
            <TableHeader>
              <TableRow>
                <TableHead>Path</TableHead>
                <TableHead>Type</TableHead>
                <TableHead>Modified</TableHead>
                <TableHead className="text-right">
                  <span className="sr-only">Actions</span>
                </TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {data.map((e) => (
                <TableRow key={e.id}>
                  <TableCell>
                    {e.trashed ? (
                      <span className="text-slate-500">{e.path}</span>
                    ) : (
                      <Link href={publicHref(e.path)} className="font-medium text-sky-700 hover:underline">
                        {e.path}
                      </Link>
                    )}
                    {e.trashed ? (
                      <Badge variant="warning" className="ml-2">
                        in trash
                      </Badge>
                    ) : null}
                  </TableCell>
                  <TableCell>{e.type}</TableCell>
                  <TableCell className="text-slate-500">{formatDate(e.modifiedAt)}</TableCell>
                  <TableCell className="text-right">
                    <Button
                      size="sm"
                      variant="outline"
                      disabled={set.isPending || e.trashed}
                      aria-label={`Make ${e.path} private`}
                      onClick={() => set.mutate({ path: e.path, isPublic: false })}
                    >
                      Make private
                    </Button>
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        )}
      </QueryState>
    </div>
  );
}
