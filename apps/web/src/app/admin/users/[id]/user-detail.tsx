"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useTRPC } from "@/trpc/react.tsx";
import { PageHeader } from "@/components/shell/app-shell.tsx";
import { DevicesTable } from "@/components/account/devices-table.tsx";
import { Button } from "@/components/ui/button.tsx";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card.tsx";
import { Input, NativeSelect } from "@/components/ui/input.tsx";
import { Label } from "@/components/ui/label.tsx";
import { Badge } from "@/components/ui/badge.tsx";
import { Alert, ErrorState, Skeleton, Spinner } from "@/components/ui/feedback.tsx";
import { ConfirmDialog } from "@/components/ui/alert-dialog.tsx";
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
import { errorCode, errorMessage } from "@/components/ui/errors.ts";
import { formatBytes, formatDate, parseBytes } from "@/components/ui/format.ts";
import { refreshQueries } from "@/trpc/refresh.ts";

function useInvalidateUsers() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  return () => refreshQueries(qc, { queryKey: trpc.users.pathKey() });
}

function ResetPasswordDialog({ id, email }: { id: string; email: string }) {
  const trpc = useTRPC();
  const toast = useToast();
  const invalidate = useInvalidateUsers();
  const [open, setOpen] = useState(false);
  const [password, setPassword] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const reset = useMutation(
    trpc.users.resetPassword.mutationOptions({
      onSuccess: () => {
        toast({
          title: `Password of ${email} reset`,
          description: "Their browser sessions were ended.",
          variant: "success",
        });
        setOpen(false);
        setPassword("");
        void invalidate();
      },
      onError: (err) => setProblem(errorMessage(err)),
    }),
  );
  function onSubmit(e: FormEvent) {
    e.preventDefault();
    setProblem(null);
    reset.mutate({ id, password });
  }
  return (
    <Dialog open={open} onOpenChange={(o) => (setOpen(o), setProblem(null))}>
      <DialogTrigger asChild>
        <Button variant="outline">Reset password</Button>
      </DialogTrigger>
      <DialogContent>
        <DialogHeader>
          <DialogTitle>Reset password</DialogTitle>
          <DialogDescription>
            Sets a new password for {email}, signs them out of the web and lifts a sign-in lock-out. Device tokens keep
            working.
          </DialogDescription>
        </DialogHeader>
        <form id="reset-password" className="grid gap-1.5" onSubmit={onSubmit} noValidate>
          <Label htmlFor="reset-new-password">New password</Label>
          <Input
            id="reset-new-password"
            type="password"
            autoComplete="new-password"
            required
            minLength={10}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
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
          <Button type="submit" form="reset-password" disabled={reset.isPending}>
            {reset.isPending ? <Spinner /> : null}
            Set password
          </Button>
        </DialogFooter>
      </DialogContent>
    </Dialog>
  );
}

export function UserDetailView({ id }: { id: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const toast = useToast();
  const invalidate = useInvalidateUsers();
  const user = useQuery({
    ...trpc.users.get.queryOptions({ id }),
    retry: (n, err) => errorCode(err) !== "NOT_FOUND" && errorCode(err) !== "BAD_REQUEST" && n < 2,
  });
  const [role, setRole] = useState<"admin" | "user">("user");
  const [quota, setQuota] = useState("");
  const [quotaProblem, setQuotaProblem] = useState<string | null>(null);
  useEffect(() => {
    if (user.data) {
      setRole(user.data.role);
      setQuota(user.data.quotaBytes === null ? "" : formatBytes(user.data.quotaBytes));
    }
  }, [user.data]);

  const onError = (what: string) => (err: unknown) =>
    toast({ title: `Could not ${what}`, description: errorMessage(err), variant: "error" });
  const setDisabled = useMutation(
    trpc.users.setDisabled.mutationOptions({
      onSuccess: (r) => {
        toast({ title: r.disabled ? "Account disabled" : "Account enabled", variant: "success" });
        void invalidate();
      },
      onError: onError("change the account"),
    }),
  );
  const setRoleM = useMutation(
    trpc.users.setRole.mutationOptions({
      onSuccess: (r) => {
        toast({ title: `Role set to ${r.role}`, variant: "success" });
        void invalidate();
      },
      onError: onError("change the role"),
    }),
  );
  const setQuotaM = useMutation(
    trpc.users.setQuota.mutationOptions({
      onSuccess: (r) => {
        toast({
          title: r.quotaBytes === null ? "Quota removed" : `Quota set to ${formatBytes(r.quotaBytes)}`,
          variant: "success",
        });
        void invalidate();
      },
      onError: (err) => setQuotaProblem(errorMessage(err)),
    }),
  );
  const unlock = useMutation(
    trpc.users.unlock.mutationOptions({
      onSuccess: () => {
        toast({ title: "Sign-in unlocked", variant: "success" });
        void invalidate();
      },
      onError: onError("unlock"),
    }),
  );
  const remove = useMutation(
    trpc.users.delete.mutationOptions({
      onSuccess: () => {
        toast({ title: "User deleted", variant: "success" });
        void invalidate();
        router.push("/admin/users");
      },
      onError: onError("delete the user"),
    }),
  );
  const revoke = useMutation(
    trpc.users.revokeDevice.mutationOptions({
      onSuccess: () => {
        toast({ title: "Device revoked", variant: "success" });
        void invalidate();
      },
      onError: onError("revoke the device"),
    }),
  );

  if (user.isPending) {
    return (
      <div className="grid gap-4" aria-busy="true">
        <Skeleton className="h-10 w-72" />
        <Skeleton className="h-48 w-full" />
      </div>
    );
  }
  if (user.isError) {
    return (
      <div>
        <PageHeader title="User" back={{ href: "/admin/users", label: "Users" }} />
        <ErrorState
          title="Could not load this user"
          message={errorMessage(user.error)}
          retry={() => void user.refetch()}
        />
      </div>
    );
  }
  const u = user.data;

  function saveQuota(e: FormEvent) {
    e.preventDefault();
    setQuotaProblem(null);
    const bytes = parseBytes(quota);
    if (bytes !== null && Number.isNaN(bytes)) {
      setQuotaProblem("Enter a size such as 50 GB, or leave it empty for no quota");
      return;
    }
    setQuotaM.mutate({ id, quotaBytes: bytes });
  }

  return (
    <div className="grid gap-6">
      <PageHeader
        back={{ href: "/admin/users", label: "Users" }}
        title={u.email}
        description={`${u.name} · created ${formatDate(u.createdAt)}`}
        actions={
          <>
            <Badge variant={u.role === "admin" ? "info" : "default"}>{u.role}</Badge>
            {u.disabled ? <Badge variant="danger">disabled</Badge> : <Badge variant="success">enabled</Badge>}
          </>
        }
      />
      {u.lockedUntil ? (
        <Alert variant="warning" className="flex flex-wrap items-center justify-between gap-2">
          <span>
            Sign-in is locked until {formatDate(u.lockedUntil)} after {u.recentFailures} failed attempts.
          </span>
          <Button size="sm" variant="outline" onClick={() => unlock.mutate({ id })} disabled={unlock.isPending}>
            Unlock now
          </Button>
        </Alert>
      ) : null}

      <div className="grid gap-6 lg:grid-cols-2">
        <Card>
          <CardHeader>
            <CardTitle>Access</CardTitle>
            <CardDescription>Role, password and whether the account may sign in.</CardDescription>
          </CardHeader>
          <CardContent className="grid gap-4">
            <form
              className="flex flex-wrap items-end gap-2"
              onSubmit={(e) => {
                e.preventDefault();
                setRoleM.mutate({ id, role });
              }}
            >
              <div className="grid gap-1.5">
                <Label htmlFor="user-role">Role</Label>
                <NativeSelect
                  id="user-role"
                  className="w-40"
                  value={role}
                  onChange={(e) => setRole(e.target.value as "admin" | "user")}
                >
                  <option value="user">User</option>
                  <option value="admin">Admin</option>
                </NativeSelect>
              </div>
              <Button type="submit" variant="outline" disabled={role === u.role || setRoleM.isPending}>
                Save role
              </Button>
            </form>
            <div className="flex flex-wrap gap-2">
              <ResetPasswordDialog id={id} email={u.email} />
              {u.disabled ? (
                <Button
                  variant="outline"
                  onClick={() => setDisabled.mutate({ id, disabled: false })}
                  disabled={setDisabled.isPending}
                >
                  Enable account
                </Button>
              ) : (
                <ConfirmDialog
                  trigger={
                    <Button variant="destructive" disabled={setDisabled.isPending}>
                      Disable account
                    </Button>
                  }
                  title={`Disable ${u.email}?`}
                  description="They are signed out everywhere, cannot sign in, and their device tokens stop working until the account is enabled again."
                  action="Disable"
                  onConfirm={() => setDisabled.mutate({ id, disabled: true })}
                />
              )}
            </div>
            <p className="text-sm text-slate-500">
              {u.sessions} active browser session{u.sessions === 1 ? "" : "s"} · {u.devices} active device token
              {u.devices === 1 ? "" : "s"}
            </p>
          </CardContent>
        </Card>

        <Card>
          <CardHeader>
            <CardTitle>Storage quota</CardTitle>
            <CardDescription>
              Uses {formatBytes(u.usedBytes)}. The quota is recorded now; uploads are not yet refused over it.
            </CardDescription>
          </CardHeader>
          <CardContent>
            <form className="flex flex-wrap items-end gap-2" onSubmit={saveQuota}>
              <div className="grid gap-1.5">
                <Label htmlFor="user-quota">Quota</Label>
                <Input
                  id="user-quota"
                  className="w-48"
                  placeholder="empty: no quota"
                  value={quota}
                  onChange={(e) => setQuota(e.target.value)}
                />
              </div>
              <Button type="submit" variant="outline" disabled={setQuotaM.isPending}>
                Save quota
              </Button>
            </form>
            {quotaProblem ? (
              <p role="alert" className="mt-2 text-sm text-rose-700">
                {quotaProblem}
              </p>
            ) : null}
          </CardContent>
        </Card>

        <Card>
          <CardHeader>
            <CardTitle>Groups</CardTitle>
            <CardDescription>Manage memberships on the group pages.</CardDescription>
          </CardHeader>
          <CardContent>
            {u.groupList.length === 0 ? (
              <p className="text-sm text-slate-500">Not in any group.</p>
            ) : (
              <ul className="flex flex-wrap gap-2">
                {u.groupList.map((g) => (
                  <li key={g.id}>
                    <Link
                      href={`/admin/groups/${g.id}`}
                      className="rounded-full bg-slate-100 px-3 py-1 text-sm text-slate-700 hover:bg-slate-200"
                    >
                      {g.name}
                    </Link>
                  </li>
                ))}
              </ul>
            )}
          </CardContent>
        </Card>

        <Card>
          <CardHeader>
            <CardTitle>IP rules for this user</CardTitle>
            <CardDescription>Evaluated before group and global rules.</CardDescription>
          </CardHeader>
          <CardContent className="grid gap-2">
            {u.ipRules.length === 0 ? (
              <p className="text-sm text-slate-500">None: group and global rules apply.</p>
            ) : (
              <ul className="grid gap-1 text-sm">
                {u.ipRules.map((r) => (
                  <li key={r.id} className="flex items-center gap-2">
                    <Badge variant={r.action === "deny" ? "danger" : "success"}>{r.action}</Badge>
                    <code>{r.cidr}</code>
                  </li>
                ))}
              </ul>
            )}
            <Link href="/admin/ip-rules" className="text-sm text-sky-700 hover:underline">
              Manage IP rules
            </Link>
          </CardContent>
        </Card>
      </div>

      <section aria-labelledby="user-devices" className="grid gap-3">
        <h2 id="user-devices" className="text-lg font-semibold">
          Devices
        </h2>
        <DevicesTable
          devices={u.deviceTokens}
          revoking={revoke.isPending ? (revoke.variables?.id ?? null) : null}
          onRevoke={(deviceId) => revoke.mutate({ id: deviceId })}
          emptyHint="This user has not signed in with the CLI or a sync agent."
        />
      </section>

      <Card className="border-rose-200">
        <CardHeader>
          <CardTitle>Delete user</CardTitle>
          <CardDescription>
            Deletes the account with its sessions, devices, group memberships, shares and IP rules. Its files stay,
            without an owner.
          </CardDescription>
        </CardHeader>
        <CardContent>
          <ConfirmDialog
            trigger={
              <Button variant="destructive" disabled={remove.isPending}>
                Delete user
              </Button>
            }
            title={`Delete ${u.email}?`}
            description="This cannot be undone."
            action="Delete"
            onConfirm={() => remove.mutate({ id })}
          />
        </CardContent>
      </Card>
    </div>
  );
}
