"use client";

import Link from "next/link";
import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { UserPlus } from "lucide-react";
import { useTRPC } from "@/trpc/react.tsx";
import { PageHeader } from "@/components/shell/app-shell.tsx";
import { Button } from "@/components/ui/button.tsx";
import { Input, NativeSelect } from "@/components/ui/input.tsx";
import { Label } from "@/components/ui/label.tsx";
import { Badge } from "@/components/ui/badge.tsx";
import { EmptyState, Loading, Spinner, QueryState } from "@/components/ui/feedback.tsx";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table.tsx";
import {
  Dialog,
  DialogContent,
  DialogDescription,
  DialogFooter,
  DialogHeader,
  DialogTitle,
  DialogTrigger,
} from "@/components/ui/dialog.tsx";
import { useToast } from "@/components/ui/toast.tsx";
import { errorMessage } from "@/components/ui/errors.ts";
import { formatBytes, parseBytes } from "@/components/ui/format.ts";
import { refreshQueries } from "@/trpc/refresh.ts";

function CreateUserDialog() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const [open, setOpen] = useState(false);
  const [email, setEmail] = useState("");
  const [name, setName] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<"user" | "admin">("user");
  const [quota, setQuota] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const create = useMutation(
    trpc.users.create.mutationOptions({
      onSuccess: (u) => {
        toast({ title: `Created ${u.email}`, variant: "success" });
        void refreshQueries(qc, { queryKey: trpc.users.list.queryKey() });
        setOpen(false);
        setEmail("");
        setName("");
        setPassword("");
        setRole("user");
        setQuota("");
      },
      onError: (err) => setProblem(errorMessage(err)),
    }),
  );
  function onSubmit(e: FormEvent) {
    e.preventDefault();
    setProblem(null);
    const quotaBytes = parseBytes(quota);
    if (quotaBytes !== null && Number.isNaN(quotaBytes)) {
      setProblem("Quota: enter a size such as 50 GB, or leave it empty for no quota");
      return;
    }
    create.mutate({ email, name, password, role, quotaBytes });
  }
  return (
    <Dialog
      open={open}
      onOpenChange={(o) => {
        setOpen(o);
        setProblem(null);
      }}
    >
      <DialogTrigger asChild>
        <Button>
          <UserPlus aria-hidden /> New user
        </Button>
      </DialogTrigger>
      <DialogContent>
        <DialogHeader>
          <DialogTitle>New user</DialogTitle>
          <DialogDescription>
            They sign in with this e-mail and password; tell them the password securely.
          </DialogDescription>
        </DialogHeader>
        <form className="grid gap-3" onSubmit={onSubmit} id="create-user" noValidate>
          <div className="grid gap-1.5">
            <Label htmlFor="new-email">Email</Label>
            <Input
              id="new-email"
              type="email"
              required
              value={email}
              onChange={(e) => setEmail(e.target.value)}
              autoComplete="off"
            />
          </div>
          <div className="grid gap-1.5">
            <Label htmlFor="new-name">Name</Label>
            <Input id="new-name" required value={name} onChange={(e) => setName(e.target.value)} autoComplete="off" />
          </div>
          <div className="grid gap-1.5">
            <Label htmlFor="new-password">Password</Label>
            <Input
              id="new-password"
              type="password"
              required
              minLength={10}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
              autoComplete="new-password"
              aria-describedby="new-password-hint"
            />
            <p id="new-password-hint" className="text-xs text-slate-500">
              At least 10 characters.
            </p>
          </div>
          <div className="grid gap-3 sm:grid-cols-2">
            <div className="grid gap-1.5">
              <Label htmlFor="new-role">Role</Label>
              <NativeSelect id="new-role" value={role} onChange={(e) => setRole(e.target.value as "user" | "admin")}>
                <option value="user">User</option>
                <option value="admin">Admin</option>
              </NativeSelect>
            </div>
            <div className="grid gap-1.5">
              <Label htmlFor="new-quota">Quota</Label>
              <Input
                id="new-quota"
                placeholder="e.g. 50 GB (empty: none)"
                value={quota}
                onChange={(e) => setQuota(e.target.value)}
              />
            </div>
          </div>
          {problem ? (
            <p role="alert" className="text-sm text-rose-700">
              {problem}
            </p>
          ) : null}
        </form>
        <DialogFooter>
          <Button variant="outline" onClick={() => setOpen(false)}>
            Cancel
          </Button>
          <Button type="submit" form="create-user" disabled={create.isPending}>
            {create.isPending ? <Spinner /> : null}
            Create user
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}

export function UsersView() {
  const trpc = useTRPC();
  const [query, setQuery] = useState("");
  const users = useQuery(trpc.users.list.queryOptions(query.trim() ? { query: query.trim() } : {}));
  return (
    <div>
      <PageHeader title="Users" description="Accounts, roles, quotas and devices." actions={<CreateUserDialog />} />
      <div className="mb-4 max-w-sm">
        <Label htmlFor="user-search" className="sr-only">
          Filter users
        </Label>
        <Input
          id="user-search"
          type="search"
          placeholder="Filter by e-mail or name"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
        />
      </div>
      <QueryState
        query={users}
        loading={<Loading label="Loading users…" />}
        isEmpty={(data) => data.length === 0}
        empty={<EmptyState title={query ? "No user matches" : "No users"} />}
      >
        {(data) => (
          <Table aria-label="Users">
            <TableHeader>
              <TableRow>
                <TableHead>User</TableHead>
                <TableHead>Role</TableHead>
                <TableHead>Status</TableHead>
                <TableHead>Storage</TableHead>
                <TableHead>Groups</TableHead>
                <TableHead className="text-right">Devices</TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {data.map((u) => (
                <TableRow key={u.id}>
                  <TableCell>
                    <Link href={`/admin/users/${u.id}`} className="font-medium text-sky-700 hover:underline">
                      {u.email}
                    </Link>
                    <div className="text-xs text-slate-500">{u.name}</div>
                  </TableCell>
                  <TableCell>
                    <Badge variant={u.role === "admin" ? "info" : "default"}>{u.role}</Badge>
                  </TableCell>
                  <TableCell>
                    {u.disabled ? <Badge variant="danger">disabled</Badge> : <Badge variant="success">enabled</Badge>}
                  </TableCell>
                  <TableCell className="text-slate-600">
                    {formatBytes(u.usedBytes)}
                    {u.quotaBytes !== null ? ` / ${formatBytes(u.quotaBytes)}` : ""}
                  </TableCell>
                  <TableCell className="text-slate-600">{u.groups.join(", ") || "—"}</TableCell>
                  <TableCell className="text-right tabular-nums">{u.devices}</TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
        )}
      </QueryState>
    </div>
  );
}
