"use client";

import { useEffect, useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Check, Copy, Link2, Trash2, Users, UserRound } from "lucide-react";
import { useTRPC } from "@/trpc/react.tsx";
import { Button } from "@/components/ui/button.tsx";
import { Input, NativeSelect } from "@/components/ui/input.tsx";
import { Label } from "@/components/ui/label.tsx";
import { Badge } from "@/components/ui/badge.tsx";
import { Alert, Loading } from "@/components/ui/feedback.tsx";
import { Separator } from "@/components/ui/separator.tsx";
import { useToast } from "@/components/ui/toast.tsx";
import { Dialog, DialogContent, DialogDescription, DialogHeader, DialogTitle } from "@/components/ui/dialog.tsx";
import { baseName, errorMessage, formatDate } from "./format.ts";
import type { LinkSummary } from "./types.ts";
import { refreshQueries } from "@/trpc/refresh.ts";

type Perm = "read" | "write" | "manage";
const PERM_LABEL: Record<Perm, string> = { read: "Can view", write: "Can edit", manage: "Can manage" };

const STATE_BADGE: Record<
  LinkSummary["state"],
  { label: string; variant: "success" | "warning" | "danger" | "default" }
> = {
  ok: { label: "Active", variant: "success" },
  expired: { label: "Expired", variant: "warning" },
  revoked: { label: "Revoked", variant: "default" },
  exhausted: { label: "Limit reached", variant: "warning" },
  missing: { label: "Deleted", variant: "danger" },
};

/**
 * Who has access to an entry (its own grants and those inherited from folders above) and
 * its share links; managers can add and remove both.
 */
export function ShareDialog({ path, onOpenChange }: { path: string | null; onOpenChange(open: boolean): void }) {
  const open = path !== null;
  return (
    <Dialog open={open} onOpenChange={onOpenChange}>
      <DialogContent className="max-w-2xl">
        <DialogHeader>
          <DialogTitle>Share {path ? baseName(path) : ""}</DialogTitle>
          <DialogDescription>{path}</DialogDescription>
        </DialogHeader>
        {path ? <ShareBody path={path} /> : null}
      </DialogContent>
    </Dialog>
  );
}

function ShareBody({ path }: { path: string }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const grants = useQuery(trpc.shares.grants.queryOptions({ path }));
  const canManage = grants.data?.canManage ?? false;
  const [who, setWho] = useState("");
  const [perm, setPerm] = useState<Perm>("read");
  const suggest = useQuery({ ...trpc.shares.suggest.queryOptions({ q: who }), enabled: canManage });
  const refresh = () => {
    void refreshQueries(qc, trpc.shares.pathFilter());
  };
  const grant = useMutation(
    trpc.shares.grant.mutationOptions({
      onSuccess: () => {
        refresh();
        setWho("");
        toast({ title: "Shared", variant: "success" });
      },
    }),
  );
  const revoke = useMutation(
    trpc.shares.revoke.mutationOptions({
      onSuccess: refresh,
      onError: (err) => toast({ title: "Could not remove access", description: errorMessage(err), variant: "error" }),
    }),
  );
  const groupNames = new Set((suggest.data?.groups ?? []).map((g) => g.name));

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const v = who.trim();
    if (!v) return;
    const isGroup = !v.includes("@") || groupNames.has(v.replace(/^group:\s*/, ""));
    grant.mutate({
      path,
      permission: perm,
      principal: isGroup ? { type: "group", name: v.replace(/^group:\s*/, "") } : { type: "user", email: v },
    });
  };

  return (
    <div className="grid gap-5">
      <section aria-label="People and groups" className="grid gap-3">
        <h3 className="flex items-center gap-2 text-sm font-semibold text-slate-800">
          <Users className="size-4 text-slate-500" aria-hidden /> People and groups
        </h3>
        {canManage ? (
          <form onSubmit={submit} className="flex flex-wrap items-end gap-2">
            <div className="grid min-w-56 flex-1 gap-1.5">
              <Label htmlFor="share-with">Share with</Label>
              <Input
                id="share-with"
                list="share-suggestions"
                placeholder="E-mail address or group name"
                value={who}
                autoComplete="off"
                onChange={(e) => setWho(e.target.value)}
              />
              <datalist id="share-suggestions">
                {(suggest.data?.users ?? []).map((u) => (
                  <option key={u.id} value={u.email}>
                    {u.name}
                  </option>
                ))}
                {(suggest.data?.groups ?? []).map((g) => (
                  <option key={g.id} value={g.name}>
                    group
                  </option>
                ))}
              </datalist>
            </div>
            <div className="grid gap-1.5">
              <Label htmlFor="share-permission">Permission</Label>
              <NativeSelect
                id="share-permission"
                value={perm}
                onChange={(e) => setPerm(e.target.value as Perm)}
                className="w-36"
              >
                <option value="read">Can view</option>
                <option value="write">Can edit</option>
                <option value="manage">Can manage</option>
              </NativeSelect>
            </div>
            <Button type="submit" disabled={grant.isPending || !who.trim()}>
              Share
            </Button>
          </form>
        ) : (
          <p className="text-sm text-slate-500">Only people who can manage this can change who has access.</p>
        )}
        {grant.error ? <Alert variant="error">{errorMessage(grant.error)}</Alert> : null}
        {grants.isPending ? (
          <Loading />
        ) : grants.error ? (
          <Alert variant="error">{errorMessage(grants.error)}</Alert>
        ) : (
          <ul className="divide-y divide-slate-100 rounded-lg border border-slate-200" aria-label="Who has access">
            <li className="flex items-center gap-3 px-3 py-2 text-sm">
              <UserRound className="size-4 text-slate-400" aria-hidden />
              <span className="flex-1">{grants.data.owner ?? "No owner"}</span>
              <span className="text-slate-500">Owner</span>
            </li>
            {grants.data.grants.map((g) => {
              const label = g.principal.type === "user" ? g.principal.email : `group ${g.principal.name}`;
              return (
                <li key={g.id} aria-label={`Access for ${label}`} className="flex items-center gap-3 px-3 py-2 text-sm">
                  {g.principal.type === "user" ? (
                    <UserRound className="size-4 text-slate-400" aria-hidden />
                  ) : (
                    <Users className="size-4 text-slate-400" aria-hidden />
                  )}
                  <span className="min-w-0 flex-1 truncate">
                    {label}
                    {g.inherited ? <span className="ml-2 text-xs text-slate-500">via {g.on}</span> : null}
                  </span>
                  <span className="text-slate-600">{PERM_LABEL[g.permission]}</span>
                  {canManage && !g.inherited ? (
                    <Button
                      size="icon"
                      variant="ghost"
                      className="size-8"
                      aria-label={`Remove access for ${label}`}
                      disabled={revoke.isPending}
                      onClick={() => revoke.mutate({ path, grantId: g.id })}
                    >
                      <Trash2 aria-hidden />
                    </Button>
                  ) : (
                    <span className="w-8" />
                  )}
                </li>
              );
            })}
          </ul>
        )}
      </section>
      {canManage ? (
        <>
          <Separator />
          <LinksSection path={path} />
        </>
      ) : null}
    </div>
  );
}

function LinksSection({ path }: { path: string }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const links = useQuery(trpc.shares.links.queryOptions({ path }));
  const [password, setPassword] = useState("");
  const [expires, setExpires] = useState("");
  const [limit, setLimit] = useState("");
  const [created, setCreated] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  useEffect(() => setCreated(null), [path]);
  const refresh = () => void refreshQueries(qc, trpc.shares.links.queryFilter({ path }));
  const create = useMutation(
    trpc.shares.createLink.mutationOptions({
      onSuccess: (r) => {
        setCreated(`${window.location.origin}${r.url}`);
        setCopied(false);
        setPassword("");
        refresh();
      },
    }),
  );
  const revoke = useMutation(
    trpc.shares.revokeLink.mutationOptions({
      onSuccess: refresh,
      onError: (err) => toast({ title: "Could not revoke", description: errorMessage(err), variant: "error" }),
    }),
  );
  const submit = (e: FormEvent) => {
    e.preventDefault();
    // A date picked without a time expires at the end of that day (UTC).
    const expiresAt = expires ? new Date(`${expires}T23:59:59.999Z`).toISOString() : null;
    create.mutate({
      path,
      password: password || null,
      expiresAt,
      maxDownloads: limit ? Number(limit) : null,
    });
  };
  return (
    <section aria-label="Share links" className="grid gap-3">
      <h3 className="flex items-center gap-2 text-sm font-semibold text-slate-800">
        <Link2 className="size-4 text-slate-500" aria-hidden /> Links
      </h3>
      <form
        onSubmit={submit}
        className="grid gap-3 rounded-lg border border-slate-200 bg-slate-50/60 p-3 sm:grid-cols-3"
      >
        <div className="grid gap-1.5">
          <Label htmlFor="link-password">Password (optional)</Label>
          <Input
            id="link-password"
            type="password"
            autoComplete="new-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </div>
        <div className="grid gap-1.5">
          <Label htmlFor="link-expires">Expires on (optional)</Label>
          <Input id="link-expires" type="date" value={expires} onChange={(e) => setExpires(e.target.value)} />
        </div>
        <div className="grid gap-1.5">
          <Label htmlFor="link-limit">Download limit (optional)</Label>
          <Input
            id="link-limit"
            type="number"
            min={1}
            inputMode="numeric"
            value={limit}
            onChange={(e) => setLimit(e.target.value)}
          />
        </div>
        <div className="sm:col-span-3">
          <Button type="submit" disabled={create.isPending}>
            <Link2 aria-hidden /> Create link
          </Button>
        </div>
      </form>
      {create.error ? <Alert variant="error">{errorMessage(create.error)}</Alert> : null}
      {created ? (
        <Alert variant="success" className="grid gap-2">
          <p>Link created. Copy it now: it is shown only once.</p>
          <div className="flex gap-2">
            <Input readOnly value={created} aria-label="New link" onFocus={(e) => e.currentTarget.select()} />
            <Button
              variant="outline"
              onClick={() => {
                void navigator.clipboard?.writeText(created).then(() => setCopied(true));
              }}
            >
              {copied ? <Check aria-hidden /> : <Copy aria-hidden />} {copied ? "Copied" : "Copy"}
            </Button>
          </div>
        </Alert>
      ) : null}
      {links.isPending ? (
        <Loading />
      ) : links.error ? (
        <Alert variant="error">{errorMessage(links.error)}</Alert>
      ) : links.data.links.length === 0 ? (
        <p className="text-sm text-slate-500">No links yet.</p>
      ) : (
        <ul className="divide-y divide-slate-100 rounded-lg border border-slate-200" aria-label="Existing links">
          {links.data.links.map((l) => {
            const badge = STATE_BADGE[l.state];
            return (
              <li
                key={l.id}
                aria-label={`Link created ${formatDate(l.createdAt)}`}
                className="flex flex-wrap items-center gap-2 px-3 py-2 text-sm"
              >
                <Badge variant={badge.variant}>{badge.label}</Badge>
                <span className="flex-1 text-slate-600">
                  Created {formatDate(l.createdAt)}
                  {l.hasPassword ? " · password" : ""}
                  {l.expiresAt ? ` · expires ${formatDate(l.expiresAt)}` : ""}
                  {` · ${l.downloadCount}${l.maxDownloads !== null ? ` of ${l.maxDownloads}` : ""} downloads`}
                </span>
                {l.state !== "revoked" ? (
                  <Button
                    size="sm"
                    variant="outline"
                    disabled={revoke.isPending}
                    onClick={() => revoke.mutate({ id: l.id })}
                  >
                    Revoke
                  </Button>
                ) : null}
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
