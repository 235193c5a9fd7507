"use client";

import { Laptop } from "lucide-react";
import { Badge } from "@/components/ui/badge.tsx";
import { Button } from "@/components/ui/button.tsx";
import { EmptyState } from "@/components/ui/feedback.tsx";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table.tsx";
import { ConfirmDialog } from "@/components/ui/alert-dialog.tsx";
import { formatDate, formatRelative } from "@/components/ui/format.ts";

export type Device = {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
  revokedAt: string | null;
};

function state(d: Device): { label: string; variant: "success" | "danger" | "warning" } {
  if (d.revokedAt) return { label: "Revoked", variant: "danger" };
  if (d.expiresAt && new Date(d.expiresAt) <= new Date()) return { label: "Expired", variant: "warning" };
  return { label: "Active", variant: "success" };
}

/** Device tokens (CLI, sync agents) with a confirmed "Revoke" per active token. */
export function DevicesTable({
  devices,
  onRevoke,
  revoking,
  emptyHint = "Sign in with the cumulus CLI or a sync agent to create one.",
}: {
  devices: Device[];
  onRevoke: (id: string) => void;
  revoking?: string | null;
  emptyHint?: string;
}) {
  if (devices.length === 0) {
    return <EmptyState icon={<Laptop className="size-8" aria-hidden />} title="No devices" description={emptyHint} />;
  }
  return (
    <Table aria-label="Devices">
      <TableHeader>
        <TableRow>
          <TableHead>Device</TableHead>
          <TableHead>Created</TableHead>
          <TableHead>Last used</TableHead>
          <TableHead>Status</TableHead>
          <TableHead className="text-right">
            <span className="sr-only">Actions</span>
          </TableHead>
        </TableRow>
      </TableHeader>
      <TableBody>
        {devices.map((d) => {
          const s = state(d);
          return (
            <TableRow key={d.id}>
              <TableCell className="font-medium">{d.name}</TableCell>
              <TableCell className="text-slate-500">{formatDate(d.createdAt)}</TableCell>
              <TableCell className="text-slate-500">{formatRelative(d.lastUsedAt)}</TableCell>
              <TableCell>
                <Badge variant={s.variant}>{s.label}</Badge>
              </TableCell>
              <TableCell className="text-right">
                {s.label === "Active" ? (
                  <ConfirmDialog
                    trigger={
                      <Button variant="outline" size="sm" disabled={revoking === d.id} aria-label={`Revoke ${d.name}`}>
                        Revoke
                      </Button>
                    }
                    title={`Revoke ${d.name}?`}
                    description="The device's token stops working at once; it has to sign in again."
                    action="Revoke"
                    onConfirm={() => onRevoke(d.id)}
                  />
                ) : null}
              </TableCell>
            </TableRow>
          );
        })}
      </TableBody>
    </Table>
  );
}
