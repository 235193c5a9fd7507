"use client";

import Link from "next/link";
import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC } from "@/trpc/react.tsx";
import { PageHeader } from "@/components/shell/app-shell.tsx";
import { Button } from "@/components/ui/button.tsx";
import { NativeSelect } from "@/components/ui/input.tsx";
import { Label } from "@/components/ui/label.tsx";
import { Badge } from "@/components/ui/badge.tsx";
import { EmptyState, ErrorState, Loading } from "@/components/ui/feedback.tsx";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table.tsx";
import { useToast } from "@/components/ui/toast.tsx";
import { errorCode, errorMessage } from "@/components/ui/errors.ts";
import { refreshQueries } from "@/trpc/refresh.ts";

export function GroupDetailView({ id }: { id: string }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const group = useQuery({
    ...trpc.groups.get.queryOptions({ id }),
    retry: (n, err) => errorCode(err) !== "NOT_FOUND" && n < 2,
  });
  const users = useQuery(trpc.users.list.queryOptions({}));
  const [userId, setUserId] = useState("");
  const invalidate = () => {
    void refreshQueries(qc, { queryKey: trpc.groups.pathKey() });
    void refreshQueries(qc, { queryKey: trpc.users.pathKey() });
  };
  const add = useMutation(
    trpc.groups.addMember.mutationOptions({
      onSuccess: () => {
        setUserId("");
        invalidate();
      },
      onError: (err) => toast({ title: "Could not add the member", description: errorMessage(err), variant: "error" }),
    }),
  );
  const removeM = useMutation(
    trpc.groups.removeMember.mutationOptions({
      onSuccess: invalidate,
      onError: (err) =>
        toast({ title: "Could not remove the member", description: errorMessage(err), variant: "error" }),
    }),
  );
  if (group.isPending) return <Loading label="Loading group…" />;
  if (group.isError) {
    return (
      <div>
        <PageHeader title="Group" back={{ href: "/admin/groups", label: "Groups" }} />
        <ErrorState
          title="Could not load this group"
          message={errorMessage(group.error)}
          retry={() => void group.refetch()}
        />
      </div>
    );
  }
  const g = group.data;
  const memberIds = new Set(g.memberList.map((m) => m.id));
  const candidates = (users.data ?? []).filter((u) => !memberIds.has(u.id));
  function onAdd(e: FormEvent) {
    e.preventDefault();
    if (userId) add.mutate({ groupId: id, userId });
  }
  return (
    <div>
      <PageHeader
        back={{ href: "/admin/groups", label: "Groups" }}
        title={g.name}
        description={`${g.members} member${g.members === 1 ? "" : "s"} · ${g.grants} share${g.grants === 1 ? "" : "s"} · ${g.ipRules} IP rule${g.ipRules === 1 ? "" : "s"}`}
      />
      <form onSubmit={onAdd} className="mb-6 flex flex-wrap items-end gap-2">
        <div className="grid gap-1.5">
          <Label htmlFor="add-member">Add member</Label>
          <NativeSelect
            id="add-member"
            className="w-72"
            value={userId}
            onChange={(e) => setUserId(e.target.value)}
            disabled={users.isPending}
          >
            <option value="">
              {users.isPending ? "Loading users…" : users.isError ? "Could not load users" : "Choose a user"}
            </option>
            {candidates.map((u) => (
              <option key={u.id} value={u.id}>
                {u.email}
              </option>
            ))}
          </NativeSelect>
        </div>
        <Button type="submit" disabled={!userId || add.isPending}>
          Add
        </Button>
      </form>
      {g.memberList.length === 0 ? (
        <EmptyState title="No members yet" />
      ) : (
        <Table aria-label="Members">
          <TableHeader>
            <TableRow>
              <TableHead>Member</TableHead>
              <TableHead>Role</TableHead>
              <TableHead className="text-right">
                <span className="sr-only">Actions</span>
              </TableHead>
            </TableRow>
          </TableHeader>
          <TableBody>
            {g.memberList.map((m) => (
              <TableRow key={m.id}>
                <TableCell>
                  <Link href={`/admin/users/${m.id}`} className="font-medium text-sky-700 hover:underline">
                    {m.email}
                  </Link>
                  {m.disabled ? (
                    <Badge variant="danger" className="ml-2">
                      disabled
                    </Badge>
                  ) : null}
                </TableCell>
                <TableCell>{m.role}</TableCell>
                <TableCell className="text-right">
                  <Button
                    variant="outline"
                    size="sm"
                    aria-label={`Remove ${m.email} from ${g.name}`}
                    disabled={removeM.isPending}
                    onClick={() => removeM.mutate({ groupId: id, userId: m.id })}
                  >
                    Remove
                  </Button>
                </TableCell>
              </TableRow>
            ))}
          </TableBody>
        </Table>
      )}
    </div>
  );
}
