"use client";

import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { LogOut } from "lucide-react";
import { useTRPC } from "@/trpc/react.tsx";
import { Button } from "@/components/ui/button.tsx";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card.tsx";
import { Checkbox, Input } from "@/components/ui/input.tsx";
import { Label } from "@/components/ui/label.tsx";
import { Badge } from "@/components/ui/badge.tsx";
import { Skeleton, Spinner, QueryState } from "@/components/ui/feedback.tsx";
import { ConfirmDialog } from "@/components/ui/alert-dialog.tsx";
import { useToast } from "@/components/ui/toast.tsx";
import { errorMessage } from "@/components/ui/errors.ts";
import { formatBytes, formatDate, formatRelative } from "@/components/ui/format.ts";
import { signOut } from "@/components/shell/sign-out.ts";
import { refreshQueries } from "@/trpc/refresh.ts";

function Profile() {
  const trpc = useTRPC();
  const me = useQuery(trpc.session.me.queryOptions());
  return (
    <Card>
      <CardHeader>
        <CardTitle>Profile</CardTitle>
        <CardDescription>Your name, e-mail and role are managed by your administrator.</CardDescription>
      </CardHeader>
      <CardContent>
        <QueryState
          query={me}
          loading={
            <div className="grid gap-2">
              <Skeleton className="h-4 w-48" />
              <Skeleton className="h-4 w-64" />
            </div>
          }
        >
          {(data) => (
            <dl className="grid grid-cols-[8rem_1fr] gap-y-2 text-sm">
              <dt className="text-slate-500">Name</dt>
              <dd>{data.name}</dd>
              <dt className="text-slate-500">Email</dt>
              <dd>{data.email}</dd>
              <dt className="text-slate-500">Role</dt>
              <dd>
                <Badge variant={data.role === "admin" ? "info" : "default"}>{data.role}</Badge>
              </dd>
              <dt className="text-slate-500">Storage used</dt>
              <dd>
                {formatBytes(data.usedBytes)}
                {data.quotaBytes !== null ? ` of ${formatBytes(data.quotaBytes)}` : " (no quota)"}
              </dd>
            </dl>
          )}
        </QueryState>
      </CardContent>
    </Card>
  );
}

function ChangePassword() {
  const trpc = useTRPC();
  const toast = useToast();
  const qc = useQueryClient();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [confirm, setConfirm] = useState("");
  const [others, setOthers] = useState(true);
  const [problem, setProblem] = useState<string | null>(null);
  const change = useMutation(
    trpc.session.changePassword.mutationOptions({
      onSuccess: (r) => {
        setCurrent("");
        setNext("");
        setConfirm("");
        toast({
          title: "Password changed",
          description: r.sessionsEnded > 0 ? `Signed out of ${r.sessionsEnded} other session(s).` : undefined,
          variant: "success",
        });
        void refreshQueries(qc, { queryKey: trpc.session.sessions.queryKey() });
      },
      onError: (err) => setProblem(errorMessage(err)),
    }),
  );
  function onSubmit(e: FormEvent) {
    e.preventDefault();
    setProblem(null);
    if (next !== confirm) {
      setProblem("The new passwords do not match");
      return;
    }
    change.mutate({ currentPassword: current, newPassword: next, signOutOthers: others });
  }
  return (
    <Card>
      <CardHeader>
        <CardTitle>Change password</CardTitle>
        <CardDescription>At least 10 characters. Enter your current password to confirm it is you.</CardDescription>
      </CardHeader>
      <CardContent>
        <form className="grid max-w-sm gap-3" onSubmit={onSubmit}>
          <div className="grid gap-1.5">
            <Label htmlFor="current-password">Current password</Label>
            <Input
              id="current-password"
              type="password"
              autoComplete="current-password"
              required
              value={current}
              onChange={(e) => setCurrent(e.target.value)}
            />
          </div>
          <div className="grid gap-1.5">
            <Label htmlFor="new-password">New password</Label>
            <Input
              id="new-password"
              type="password"
              autoComplete="new-password"
              required
              minLength={10}
              value={next}
              onChange={(e) => setNext(e.target.value)}
            />
          </div>
          <div className="grid gap-1.5">
            <Label htmlFor="confirm-password">Repeat new password</Label>
            <Input
              id="confirm-password"
              type="password"
              autoComplete="new-password"
              required
              value={confirm}
              onChange={(e) => setConfirm(e.target.value)}
            />
          </div>
          <label className="flex items-center gap-2 text-sm text-slate-700">
            <Checkbox checked={others} onChange={(e) => setOthers(e.target.checked)} />
            Sign out my other browser sessions
          </label>
          {problem ? (
            <p role="alert" className="text-sm text-rose-700">
              {problem}
            </p>
          ) : null}
          <div>
            <Button type="submit" disabled={change.isPending}>
              {change.isPending ? <Spinner /> : null}
              Change password
            </Button>
          </div>
        </form>
      </CardContent>
    </Card>
  );
}

function Sessions() {
  const trpc = useTRPC();
  const toast = useToast();
  const sessions = useQuery(trpc.session.sessions.queryOptions());
  const everywhere = useMutation(
    trpc.session.signOutEverywhere.mutationOptions({
      onSuccess: () => window.location.assign("/sign-in"),
      onError: (err) =>
        toast({ title: "Could not sign out everywhere", description: errorMessage(err), variant: "error" }),
    }),
  );
  return (
    <Card>
      <CardHeader>
        <CardTitle>Browser sessions</CardTitle>
        <CardDescription>
          Where you are signed in on the web. Device tokens (CLI, sync) are under Devices.
        </CardDescription>
      </CardHeader>
      <CardContent className="grid gap-4">
        <QueryState query={sessions} loading={<Skeleton className="h-16 w-full" />}>
          {(data) => (
            <ul className="divide-y divide-slate-100 rounded-lg border border-slate-200" aria-label="Sessions">
              {data.map((s) => (
                <li key={s.id} className="flex flex-wrap items-center justify-between gap-2 px-3 py-2 text-sm">
                  <div className="min-w-0">
                    <p className="truncate font-medium text-slate-800">{s.userAgent ?? "Unknown browser"}</p>
                    <p className="text-slate-500">
                      {s.ipAddress ?? "unknown address"} · signed in {formatRelative(s.createdAt)} · until{" "}
                      {formatDate(s.expiresAt)}
                    </p>
                  </div>
                  {s.current ? <Badge variant="success">This session</Badge> : null}
                </li>
              ))}
            </ul>
          )}
        </QueryState>
        <div className="flex flex-wrap gap-2">
          <Button variant="outline" onClick={() => void signOut()}>
            <LogOut aria-hidden /> Sign out
          </Button>
          <ConfirmDialog
            trigger={<Button variant="destructive">Sign out everywhere</Button>}
            title="Sign out everywhere?"
            description="Every browser session of your account ends, this one included. Device tokens keep working; revoke them under Devices."
            action="Sign out everywhere"
            onConfirm={() => everywhere.mutate({})}
          />
        </div>
      </CardContent>
    </Card>
  );
}

export function AccountSettings() {
  return (
    <div className="grid gap-6">
      <Profile />
      <ChangePassword />
      <Sessions />
    </div>
  );
}
