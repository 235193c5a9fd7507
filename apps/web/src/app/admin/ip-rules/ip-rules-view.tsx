"use client";

import { useEffect, useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { CheckCircle2, Trash2, XCircle } from "lucide-react";
import { useTRPC } from "@/trpc/react.tsx";
import { PageHeader } from "@/components/shell/app-shell.tsx";
import { Button } from "@/components/ui/button.tsx";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card.tsx";
import { Input, NativeSelect } from "@/components/ui/input.tsx";
import { Label } from "@/components/ui/label.tsx";
import { Badge } from "@/components/ui/badge.tsx";
import { Alert, EmptyState, ErrorState, Loading, Spinner, QueryState } from "@/components/ui/feedback.tsx";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table.tsx";
import { ConfirmDialog } from "@/components/ui/alert-dialog.tsx";
import { useToast } from "@/components/ui/toast.tsx";
import { errorMessage } from "@/components/ui/errors.ts";
import { formatDate } from "@/components/ui/format.ts";
import { refreshQueries } from "@/trpc/refresh.ts";

type Scope = "global" | "user" | "group";

function RuleForm() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const users = useQuery(trpc.users.list.queryOptions({}));
  const groups = useQuery(trpc.groups.list.queryOptions());
  const [action, setAction] = useState<"allow" | "deny">("deny");
  const [cidr, setCidr] = useState("");
  const [scope, setScope] = useState<Scope>("global");
  const [targetId, setTargetId] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const [lockout, setLockout] = useState<string | null>(null);
  const create = useMutation(
    trpc.ipRules.create.mutationOptions({
      onSuccess: (r) => {
        toast({ title: `Rule added: ${r.action} ${r.cidr}`, variant: "success" });
        setCidr("");
        setLockout(null);
        void refreshQueries(qc, { queryKey: trpc.ipRules.pathKey() });
        void refreshQueries(qc, { queryKey: trpc.users.pathKey() });
      },
      onError: (err) => {
        const msg = errorMessage(err);
        if (
          (err as { data?: { code?: string } }).data?.code === "CONFLICT" &&
          msg.includes("would refuse your own address")
        ) {
          setLockout(msg);
        } else setProblem(msg);
      },
    }),
  );
  function submit(force: boolean) {
    setProblem(null);
    if (scope !== "global" && !targetId) {
      setProblem(`Choose the ${scope} the rule is for`);
      return;
    }
    create.mutate({
      cidr,
      action,
      userId: scope === "user" ? targetId : null,
      groupId: scope === "group" ? targetId : null,
      force,
    });
  }
  return (
    <Card>
      <CardHeader>
        <CardTitle>Add a rule</CardTitle>
        <CardDescription>
          An address or CIDR block, IPv4 or IPv6 (10.0.0.0/8, 2001:db8::/32, 203.0.113.7). Rules of a user come first,
          then their groups&apos;, then the global ones; within one level deny wins. Once any allow rule applies, other
          addresses are refused.
        </CardDescription>
      </CardHeader>
      <CardContent>
        <form
          className="grid gap-3 sm:grid-cols-[8rem_1fr] md:grid-cols-[8rem_14rem_10rem_1fr_auto] md:items-end"
          onSubmit={(e: FormEvent) => {
            e.preventDefault();
            submit(false);
          }}
        >
          <div className="grid gap-1.5">
            <Label htmlFor="rule-action">Action</Label>
            <NativeSelect
              id="rule-action"
              value={action}
              onChange={(e) => setAction(e.target.value as "allow" | "deny")}
            >
              <option value="deny">Deny</option>
              <option value="allow">Allow</option>
            </NativeSelect>
          </div>
          <div className="grid gap-1.5">
            <Label htmlFor="rule-cidr">Address or CIDR</Label>
            <Input
              id="rule-cidr"
              required
              value={cidr}
              onChange={(e) => setCidr(e.target.value)}
              placeholder="10.0.0.0/8"
            />
          </div>
          <div className="grid gap-1.5">
            <Label htmlFor="rule-scope">Applies to</Label>
            <NativeSelect
              id="rule-scope"
              value={scope}
              onChange={(e) => {
                setScope(e.target.value as Scope);
                setTargetId("");
              }}
            >
              <option value="global">Everyone</option>
              <option value="group">A group</option>
              <option value="user">A user</option>
            </NativeSelect>
          </div>
          <div className="grid gap-1.5">
            <Label htmlFor="rule-target">{scope === "group" ? "Group" : "User"}</Label>
            <NativeSelect
              id="rule-target"
              value={targetId}
              onChange={(e) => setTargetId(e.target.value)}
              disabled={scope === "global"}
            >
              <option value="">{scope === "global" ? "—" : `Choose a ${scope}`}</option>
              {scope === "user"
                ? (users.data ?? []).map((u) => (
                    <option key={u.id} value={u.id}>
                      {u.email}
                    </option>
                  ))
                : scope === "group"
                  ? (groups.data ?? []).map((g) => (
                      <option key={g.id} value={g.id}>
                        {g.name}
                      </option>
                    ))
                  : null}
            </NativeSelect>
          </div>
          <Button type="submit" disabled={create.isPending}>
            {create.isPending ? <Spinner /> : null}
            Add rule
          </Button>
        </form>
        {problem ? (
          <p role="alert" className="mt-3 text-sm text-rose-700">
            {problem}
          </p>
        ) : null}
        {lockout ? (
          <Alert variant="warning" className="mt-3 grid gap-2">
            <span>{lockout}</span>
            <span className="flex gap-2">
              <Button size="sm" variant="destructive" onClick={() => submit(true)}>
                Add it anyway
              </Button>
              <Button size="sm" variant="outline" onClick={() => setLockout(null)}>
                Cancel
              </Button>
            </span>
          </Alert>
        ) : null}
      </CardContent>
    </Card>
  );
}

function TestAddress() {
  const trpc = useTRPC();
  const me = useQuery(trpc.ipRules.myAddress.queryOptions());
  const users = useQuery(trpc.users.list.queryOptions({}));
  const [ip, setIp] = useState("");
  const [userId, setUserId] = useState("");
  const [asked, setAsked] = useState<{ ip: string; userId: string | null } | null>(null);
  useEffect(() => {
    if (me.data?.ip && ip === "") setIp(me.data.ip);
  }, [me.data?.ip]);
  const result = useQuery({
    ...trpc.ipRules.test.queryOptions(asked ?? { ip: "0.0.0.0", userId: null }),
    enabled: asked !== null,
    retry: false,
  });
  return (
    <Card>
      <CardHeader>
        <CardTitle>Test an address</CardTitle>
        <CardDescription>
          What the rules decide for an address, anonymously or for a user. Your address is {me.data?.ip ?? "unknown"}.
        </CardDescription>
      </CardHeader>
      <CardContent className="grid gap-3">
        <form
          className="flex flex-wrap items-end gap-2"
          onSubmit={(e) => {
            e.preventDefault();
            setAsked({ ip: ip.trim(), userId: userId || null });
          }}
        >
          <div className="grid gap-1.5">
            <Label htmlFor="test-ip">Address to test</Label>
            <Input id="test-ip" className="w-56" required value={ip} onChange={(e) => setIp(e.target.value)} />
          </div>
          <div className="grid gap-1.5">
            <Label htmlFor="test-user">As user</Label>
            <NativeSelect id="test-user" className="w-64" value={userId} onChange={(e) => setUserId(e.target.value)}>
              <option value="">Anonymous (global rules only)</option>
              {(users.data ?? []).map((u) => (
                <option key={u.id} value={u.id}>
                  {u.email}
                </option>
              ))}
            </NativeSelect>
          </div>
          <Button type="submit" variant="outline">
            Test
          </Button>
        </form>
        <div aria-live="polite">
          {asked === null ? null : result.isPending ? (
            <Loading label="Testing…" className="py-2" />
          ) : result.isError ? (
            <ErrorState title="Cannot test this address" message={errorMessage(result.error)} />
          ) : (
            <div
              data-testid="ip-test-result"
              className={
                result.data.allowed
                  ? "flex items-start gap-2 rounded-lg border border-emerald-200 bg-emerald-50 p-3 text-sm text-emerald-900"
                  : "flex items-start gap-2 rounded-lg border border-rose-200 bg-rose-50 p-3 text-sm text-rose-900"
              }
            >
              {result.data.allowed ? (
                <CheckCircle2 className="mt-0.5 size-4 shrink-0" aria-hidden />
              ) : (
                <XCircle className="mt-0.5 size-4 shrink-0" aria-hidden />
              )}
              <span>
                <strong>{result.data.allowed ? "Allowed" : "Denied"}</strong>: {result.data.ip}
                {result.data.user ? ` as ${result.data.user}` : " (anonymous)"} — {result.data.reason}
              </span>
            </div>
          )}
        </div>
      </CardContent>
    </Card>
  );
}

export function IpRulesView() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const rules = useQuery(trpc.ipRules.list.queryOptions());
  const remove = useMutation(
    trpc.ipRules.delete.mutationOptions({
      onSuccess: () => {
        toast({ title: "Rule deleted", variant: "success" });
        void refreshQueries(qc, { queryKey: trpc.ipRules.pathKey() });
        void refreshQueries(qc, { queryKey: trpc.users.pathKey() });
      },
      onError: (err) => toast({ title: "Could not delete the rule", description: errorMessage(err), variant: "error" }),
    }),
  );
  return (
    <div className="grid gap-6">
      <PageHeader
        title="IP access rules"
        description="Which addresses may use the cluster: for everyone, per group and per user. Applied to sign-in, every API call and every data token."
      />
      <RuleForm />
      <TestAddress />
      <section aria-labelledby="rules-heading" className="grid gap-3">
        <h2 id="rules-heading" className="text-lg font-semibold">
          Rules
        </h2>
        <QueryState
          query={rules}
          loading={<Loading label="Loading rules…" />}
          isEmpty={(data) => data.length === 0}
          empty={<EmptyState title="No IP rules" description="Every address is allowed." />}
        >
          {(data) => (
            <Table aria-label="IP rules">
              <TableHeader>
                <TableRow>
                  <TableHead>Applies to</TableHead>
                  <TableHead>Action</TableHead>
                  <TableHead>Address / CIDR</TableHead>
                  <TableHead>Created</TableHead>
                  <TableHead className="text-right">
                    <span className="sr-only">Actions</span>
                  </TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {data.map((r) => {
                  const who =
                    r.scope === "user" ? r.userEmail : r.scope === "group" ? `group ${r.groupName}` : "everyone";
                  return (
                    <TableRow key={r.id}>
                      <TableCell>
                        <Badge variant="outline">{r.scope}</Badge> <span className="ml-1">{who}</span>
                      </TableCell>
                      <TableCell>
                        <Badge variant={r.action === "deny" ? "danger" : "success"}>{r.action}</Badge>
                      </TableCell>
                      <TableCell>
                        <code>{r.cidr}</code>
                      </TableCell>
                      <TableCell className="text-slate-500">{formatDate(r.createdAt)}</TableCell>
                      <TableCell className="text-right">
                        <ConfirmDialog
                          trigger={
                            <Button
                              variant="ghost"
                              size="icon"
                              aria-label={`Delete rule ${r.action} ${r.cidr} for ${who}`}
                            >
                              <Trash2 aria-hidden />
                            </Button>
                          }
                          title="Delete this rule?"
                          description={`${r.action} ${r.cidr} for ${who}. It stops applying at once.`}
                          action="Delete"
                          onConfirm={() => remove.mutate({ id: r.id })}
                        />
                      </TableCell>
                    </TableRow>
                  );
                })}
              </TableBody>
            </Table>
          )}
        </QueryState>
      </section>
    </div>
  );
}
