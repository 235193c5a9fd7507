"use client";

import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import { Download, Users } from "lucide-react";
import { useTRPC } from "@/trpc/react.tsx";
import { Button } from "@/components/ui/button.tsx";
import { Badge } from "@/components/ui/badge.tsx";
import { EmptyState, QueryState } from "@/components/ui/feedback.tsx";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table.tsx";
import { PageHeader } from "@/components/shell/app-shell.tsx";
import { EntryIcon } from "./file-list.tsx";
import { filesHref, formatBytes, formatDate, gatewayHref, parentPath } from "./format.ts";

const PERM: Record<string, string> = { read: "Can view", write: "Can edit", manage: "Can manage" };

/** Entries other people shared with the user (directly or through a group). */
export function SharedView() {
  const trpc = useTRPC();
  const q = useQuery(trpc.shares.sharedWithMe.queryOptions());
  return (
    <div>
      <PageHeader title="Shared with me" description="Files and folders other people gave you access to." />
      <QueryState
        query={q}
        isEmpty={(data) => data.items.length === 0}
        empty={
          <EmptyState
            title="Nothing is shared with you yet"
            description="When someone shares a file or folder with you or one of your groups, it shows up here."
            icon={<Users className="size-8" aria-hidden />}
          />
        }
      >
        {(data) => (
          <Table aria-label="Shared with me">
            <TableHeader>
              <TableRow>
                <TableHead>Name</TableHead>
                <TableHead>Shared by</TableHead>
                <TableHead>Permission</TableHead>
                <TableHead className="text-right">Size</TableHead>
                <TableHead>Modified</TableHead>
                <TableHead>
                  <span className="sr-only">Actions</span>
                </TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {data.items.map((it) => (
                <TableRow key={it.id} aria-label={it.name}>
                  <TableCell>
                    <Link
                      href={it.type === "folder" ? filesHref(it.path) : filesHref(parentPath(it.path))}
                      className="flex items-center gap-2 font-medium text-slate-900 hover:underline"
                      title={it.path}
                    >
                      <EntryIcon entry={it} /> {it.name}
                    </Link>
                  </TableCell>
                  <TableCell className="text-slate-600">
                    {it.sharedBy ?? "—"}
                    {it.via.some((v) => v !== "you") ? (
                      <span className="block text-xs text-slate-500">
                        via {it.via.filter((v) => v !== "you").join(", ")}
                      </span>
                    ) : null}
                  </TableCell>
                  <TableCell>
                    <Badge variant={it.permission === "read" ? "default" : "info"}>{PERM[it.permission]}</Badge>
                  </TableCell>
                  <TableCell className="text-right tabular-nums text-slate-600">
                    {it.type === "folder" ? "—" : formatBytes(it.size)}
                  </TableCell>
                  <TableCell className="text-slate-600">{formatDate(it.modifiedAt)}</TableCell>
                  <TableCell className="text-right">
                    <Button asChild size="icon" variant="ghost" aria-label={`Download ${it.name}`}>
                      <a href={gatewayHref(it.path)} download>
                        <Download aria-hidden />
                      </a>
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
