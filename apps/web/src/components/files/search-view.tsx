"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";
import { useInfiniteQuery } from "@tanstack/react-query";
import { Download, Search } from "lucide-react";
import { useTRPC } from "@/trpc/react.tsx";
import { Button } from "@/components/ui/button.tsx";
import { Input } from "@/components/ui/input.tsx";
import { EmptyState, ErrorState, Loading } from "@/components/ui/feedback.tsx";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "@/components/ui/table.tsx";
import { PageHeader } from "@/components/shell/app-shell.tsx";
import { EntryIcon } from "./file-list.tsx";
import { errorMessage, filesHref, formatBytes, formatDate, gatewayHref, parentPath } from "./format.ts";

const PAGE = 100;

/** Search by name over everything the user can read (or below one folder). */
export function SearchView({ initialQuery, within }: { initialQuery: string; within: string | null }) {
  const trpc = useTRPC();
  const router = useRouter();
  const [q, setQ] = useState(initialQuery);
  const results = useInfiniteQuery(
    trpc.files.search.infiniteQueryOptions(
      { q: initialQuery, limit: PAGE, ...(within ? { within } : {}) },
      {
        enabled: initialQuery.trim() !== "",
        initialCursor: 0,
        getNextPageParam: (last) => last.nextOffset ?? undefined,
      },
    ),
  );
  const entries = results.data?.pages.flatMap((p) => p.entries) ?? [];
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const params = new URLSearchParams({ q: q.trim() });
    if (within) params.set("within", within);
    router.push(`/search?${params.toString()}`);
  };
  return (
    <div>
      <PageHeader
        title="Search"
        description={
          within
            ? `Names containing your search, in ${within}`
            : "Names containing your search, in everything you can open"
        }
        back={within ? { href: filesHref(within), label: "Back to the folder" } : undefined}
      />
      <form onSubmit={submit} role="search" className="mb-6 flex max-w-xl gap-2">
        <div className="relative flex-1">
          <Search className="pointer-events-none absolute left-2.5 top-2.5 size-4 text-slate-400" aria-hidden />
          <Input
            aria-label="Search by name"
            className="pl-8"
            value={q}
            onChange={(e) => setQ(e.target.value)}
            autoFocus
          />
        </div>
        <Button type="submit" disabled={!q.trim()}>
          Search
        </Button>
      </form>
      {initialQuery.trim() === "" ? null : results.isPending ? (
        <Loading label="Searching…" />
      ) : results.error ? (
        <ErrorState message={errorMessage(results.error)} retry={() => void results.refetch()} />
      ) : entries.length === 0 ? (
        <EmptyState title={`Nothing named like “${initialQuery}”`} icon={<Search className="size-8" aria-hidden />} />
      ) : (
        <>
          <Table aria-label="Search results">
            <TableHeader>
              <TableRow>
                <TableHead>Name</TableHead>
                <TableHead>Folder</TableHead>
                <TableHead className="text-right">Size</TableHead>
                <TableHead>Modified</TableHead>
                <TableHead>
                  <span className="sr-only">Actions</span>
                </TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {entries.map((e) => (
                <TableRow key={`${e.id}-${e.path}`} aria-label={e.name}>
                  <TableCell>
                    <Link
                      href={e.type === "folder" ? filesHref(e.path) : filesHref(parentPath(e.path))}
                      className="flex items-center gap-2 font-medium text-slate-900 hover:underline"
                    >
                      <EntryIcon entry={e} /> {e.name}
                    </Link>
                  </TableCell>
                  <TableCell className="max-w-80 truncate text-slate-600" title={parentPath(e.path)}>
                    {parentPath(e.path)}
                  </TableCell>
                  <TableCell className="text-right tabular-nums text-slate-600">
                    {e.type === "folder" ? "—" : formatBytes(e.size)}
                  </TableCell>
                  <TableCell className="text-slate-600">{formatDate(e.modifiedAt)}</TableCell>
                  <TableCell className="text-right">
                    <Button asChild size="icon" variant="ghost" aria-label={`Download ${e.name}`}>
                      <a href={gatewayHref(e.path)} download>
                        <Download aria-hidden />
                      </a>
                    </Button>
                  </TableCell>
                </TableRow>
              ))}
            </TableBody>
          </Table>
          {results.hasNextPage ? (
            <div className="mt-4 flex justify-center">
              <Button
                variant="outline"
                disabled={results.isFetchingNextPage}
                onClick={() => void results.fetchNextPage()}
              >
                {results.isFetchingNextPage ? "Loading…" : "Show more"}
              </Button>
            </div>
          ) : null}
        </>
      )}
    </div>
  );
}
