"use client";

import Link from "next/link";
import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Trash2 } from "lucide-react";
import { useTRPC } from "@/trpc/react.tsx";
import { PageHeader } from "@/components/shell/app-shell.tsx";
import { Button } from "@/components/ui/button.tsx";
import { Input } from "@/components/ui/input.tsx";
import { Label } from "@/components/ui/label.tsx";
import { EmptyState, Loading, QueryState } from "@/components/ui/feedback.tsx";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table.tsx";
import { ConfirmDialog } from "@/components/ui/alert-dialog.tsx";
import { useToast } from "@/components/ui/toast.tsx";
import { errorMessage } from "@/components/ui/errors.ts";
import { formatDate } from "@/components/ui/format.ts";
import { refreshQueries } from "@/trpc/refresh.ts";

export function GroupsView() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const groups = useQuery(trpc.groups.list.queryOptions());
  const [name, setName] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const invalidate = () => refreshQueries(qc, { queryKey: trpc.groups.pathKey() });
  const create = useMutation(
    trpc.groups.create.mutationOptions({
      onSuccess: (g) => {
        toast({ title: `Created group ${g.name}`, variant: "success" });
        setName("");
        void invalidate();
      },
      onError: (err) => setProblem(errorMessage(err)),
    }),
  );
  const remove = useMutation(
    trpc.groups.delete.mutationOptions({
      onSuccess: () => {
        toast({ title: "Group deleted", variant: "success" });
        void invalidate();
      },
      onError: (err) =>
        toast({ title: "Could not delete the group", description: errorMessage(err), variant: "error" }),
    }),
  );
  function onSubmit(e: FormEvent) {
    e.preventDefault();
    setProblem(null);
    create.mutate({ name });
  }
  return (
    <div>
      <PageHeader title="Groups" description="Share with a group, or give it IP rules, instead of user by user." />
      <form onSubmit={onSubmit} className="mb-6 flex flex-wrap items-end gap-2">
        <div className="grid gap-1.5">
          <Label htmlFor="group-name">Group name</Label>
          <Input id="group-name" className="w-64" value={name} onChange={(e) => setName(e.target.value)} required />
        </div>
        <Button type="submit" disabled={create.isPending}>
          Create group
        </Button>
        {problem ? (
          <p role="alert" className="w-full text-sm text-rose-700">
            {problem}
          </p>
        ) : null}
      </form>
      <QueryState
        query={groups}
        loading={<Loading label="Loading groups…" />}
        isEmpty={(data) => data.length === 0}
        empty={<EmptyState title="No groups yet" description="Create one above." />}
      >
        {(data) => (
          <Table aria-label="Groups">
            <TableHeader>
              <TableRow>
                <TableHead>Group</TableHead>
                <TableHead className="text-right">Members</TableHead>
                <TableHead>Created</TableHead>
                <TableHead className="text-right">
                  <span className="sr-only">Actions</span>
                </TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {data.map((g) => (
                <TableRow key={g.id}>
                  <TableCell>
                    <Link href={`/admin/groups/${g.id}`} className="font-medium text-sky-700 hover:underline">
                      {g.name}
                    </Link>
                  </TableCell>
                  <TableCell className="text-right tabular-nums">{g.members}</TableCell>
                  <TableCell className="text-slate-500">{formatDate(g.createdAt)}</TableCell>
                  <TableCell className="text-right">
                    <ConfirmDialog
                      trigger={
                        <Button variant="ghost" size="icon" aria-label={`Delete group ${g.name}`}>
                          <Trash2 aria-hidden />
                        </Button>
                      }
                      title={`Delete group ${g.name}?`}
                      description="Its members lose what was shared with the group and its IP rules are deleted. The users themselves stay."
                      action="Delete"
                      onConfirm={() => remove.mutate({ id: g.id })}
                    />
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
