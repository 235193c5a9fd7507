"use client";

import { useEffect, useMemo, useRef, type KeyboardEvent, type ReactNode } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import { ArrowDown, ArrowUp, File, FileArchive, FileImage, FileText, Folder, MoreHorizontal } from "lucide-react";
import { cn } from "@/components/ui/cn.ts";
import { formatBytes, formatDate } from "./format.ts";
import type { FileEntry } from "./types.ts";

export type SortKey = "name" | "size" | "modifiedAt" | "owner";
export type Sort = { key: SortKey; dir: "asc" | "desc" };

export const ROW_HEIGHT = 44;

/**
 * Folders first, then by the chosen column (ties by name). The server already sends a
 * folder in the default order (folders first, names by code point), which is kept as is.
 */
export function sortEntries(entries: readonly FileEntry[], sort: Sort): readonly FileEntry[] {
  if (sort.key === "name" && sort.dir === "asc") return entries;
  const mul = sort.dir === "asc" ? 1 : -1;
  const byName = (a: FileEntry, b: FileEntry) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const cmp = (a: FileEntry, b: FileEntry): number => {
    if (a.type !== b.type) return a.type === "folder" ? -1 : 1;
    let c = 0;
    switch (sort.key) {
      case "name":
        c = byName(a, b);
        break;
      case "size":
        c = a.size - b.size;
        break;
      case "modifiedAt":
        c = a.modifiedAt < b.modifiedAt ? -1 : a.modifiedAt > b.modifiedAt ? 1 : 0;
        break;
      case "owner":
        c = (a.owner ?? "").localeCompare(b.owner ?? "");
        break;
    }
    return c * mul || byName(a, b);
  };
  return [...entries].sort(cmp);
}

export function EntryIcon({ entry, className }: { entry: { type: string; name: string }; className?: string }) {
  const cls = cn("size-4 shrink-0", className);
  if (entry.type === "folder") return <Folder className={cn(cls, "fill-sky-100 text-sky-600")} aria-hidden />;
  const ext = entry.name.slice(entry.name.lastIndexOf(".") + 1).toLowerCase();
  if (["png", "jpg", "jpeg", "gif", "webp", "svg", "avif"].includes(ext))
    return <FileImage className={cn(cls, "text-violet-500")} aria-hidden />;
  if (["zip", "gz", "tar", "7z", "rar"].includes(ext))
    return <FileArchive className={cn(cls, "text-amber-600")} aria-hidden />;
  if (["txt", "md", "pdf", "doc", "docx", "csv", "json"].includes(ext))
    return <FileText className={cn(cls, "text-slate-500")} aria-hidden />;
  return <File className={cn(cls, "text-slate-400")} aria-hidden />;
}

const COLUMNS: { key: SortKey; label: string; className: string }[] = [
  { key: "name", label: "Name", className: "flex-1 min-w-0" },
  { key: "size", label: "Size", className: "w-24 justify-end text-right" },
  // Shown by the list's own width (a container query), not the window's: the details panel narrows it.
  { key: "modifiedAt", label: "Modified", className: "hidden w-48 @2xl:flex" },
  { key: "owner", label: "Owner", className: "hidden w-48 @4xl:flex" },
];

function rowId(listId: string, entry: FileEntry): string {
  return `${listId}-row-${entry.id}`;
}

/**
 * The folder's entries as a virtualized grid (only the rows in view are in the DOM, so
 * 10,000 entries scroll like 10). Keyboard: arrows/Home/End/PageUp/PageDown move the
 * selection, Enter opens, Delete trashes, F2 renames. Each row's accessible name is the
 * entry's name.
 */
export function FileList({
  id,
  label,
  entries,
  sort,
  onSort,
  selectedId,
  onSelect,
  onOpen,
  onDelete,
  onRename,
  renderActions,
  renderName,
  empty,
  height,
}: {
  id: string;
  label: string;
  entries: readonly FileEntry[];
  sort: Sort;
  onSort(s: Sort): void;
  selectedId: string | null;
  onSelect(entry: FileEntry | null): void;
  onOpen(entry: FileEntry): void;
  onDelete?(entry: FileEntry): void;
  onRename?(entry: FileEntry): void;
  renderActions?(entry: FileEntry): ReactNode;
  renderName?(entry: FileEntry): ReactNode;
  empty?: ReactNode;
  height?: string;
}) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const gridRef = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({
    count: entries.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
    // Lets the server render the first screen of rows before any measurement.
    initialRect: { width: 1024, height: 800 },
  });
  const selectedIndex = useMemo(
    () => (selectedId ? entries.findIndex((e) => e.id === selectedId) : -1),
    [entries, selectedId],
  );

  useEffect(() => {
    if (selectedIndex >= 0) virtualizer.scrollToIndex(selectedIndex, { align: "auto" });
  }, [selectedIndex, virtualizer]);

  // Marks the grid once React has hydrated it, and when (ms since navigation start): tests
  // and the web benchmark wait for it.
  useEffect(() => {
    gridRef.current?.setAttribute("data-hydrated", "true");
    gridRef.current?.setAttribute("data-hydrated-at", String(Math.round(performance.now())));
  }, []);

  const move = (to: number) => {
    if (entries.length === 0) return;
    const i = Math.max(0, Math.min(entries.length - 1, to));
    onSelect(entries[i]!);
  };

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    if (e.target !== gridRef.current) return; // keys inside row menus belong to them
    const page = Math.max(1, Math.floor((scrollRef.current?.clientHeight ?? 400) / ROW_HEIGHT) - 1);
    const cur = selectedIndex;
    const sel = cur >= 0 ? entries[cur]! : null;
    switch (e.key) {
      case "ArrowDown":
        move(cur < 0 ? 0 : cur + 1);
        break;
      case "ArrowUp":
        move(cur < 0 ? 0 : cur - 1);
        break;
      case "Home":
        move(0);
        break;
      case "End":
        move(entries.length - 1);
        break;
      case "PageDown":
        move(cur + page);
        break;
      case "PageUp":
        move(cur - page);
        break;
      case "Enter":
        if (sel) onOpen(sel);
        break;
      case "Delete":
      case "Backspace":
        if (sel && onDelete) onDelete(sel);
        else return;
        break;
      case "F2":
        if (sel && onRename) onRename(sel);
        else return;
        break;
      case "Escape":
        onSelect(null);
        break;
      default:
        return;
    }
    e.preventDefault();
  };

  const header = (
    <div
      role="row"
      aria-rowindex={1}
      className="flex h-10 items-center gap-3 border-b border-slate-200 bg-slate-50 px-4 text-xs font-medium uppercase tracking-wide text-slate-500"
    >
      <span className="w-4" aria-hidden />
      {COLUMNS.map((c) => {
        const active = sort.key === c.key;
        return (
          <div
            key={c.key}
            role="columnheader"
            aria-sort={active ? (sort.dir === "asc" ? "ascending" : "descending") : "none"}
            className={cn("flex items-center", c.className)}
          >
            <button
              type="button"
              className="inline-flex items-center gap-1 rounded px-1 py-0.5 hover:text-slate-900 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-sky-500"
              onClick={() => onSort({ key: c.key, dir: active && sort.dir === "asc" ? "desc" : "asc" })}
            >
              {c.label}
              {active ? (
                sort.dir === "asc" ? (
                  <ArrowUp className="size-3" aria-hidden />
                ) : (
                  <ArrowDown className="size-3" aria-hidden />
                )
              ) : null}
            </button>
          </div>
        );
      })}
      <span className="w-8" aria-hidden />
    </div>
  );

  const items = virtualizer.getVirtualItems();
  return (
    <div
      ref={gridRef}
      id={id}
      role="grid"
      aria-label={label}
      aria-rowcount={entries.length + 1}
      aria-activedescendant={selectedIndex >= 0 ? rowId(id, entries[selectedIndex]!) : undefined}
      tabIndex={0}
      onKeyDown={onKeyDown}
      className="@container flex min-h-0 flex-1 flex-col rounded-xl border border-slate-200 bg-white shadow-sm focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-sky-500"
      data-testid="file-list"
    >
      <div role="rowgroup">{header}</div>
      <div
        ref={scrollRef}
        className="relative flex-none overflow-auto"
        style={{ height: height ?? "max(20rem, calc(100vh - 16rem))", contain: "strict" }}
      >
        {entries.length === 0 ? (
          <div className="p-6">{empty}</div>
        ) : (
          <div role="rowgroup" style={{ height: virtualizer.getTotalSize(), position: "relative", width: "100%" }}>
            {items.map((v) => {
              const entry = entries[v.index]!;
              const selected = entry.id === selectedId;
              return (
                <div
                  key={entry.id}
                  id={rowId(id, entry)}
                  role="row"
                  aria-rowindex={v.index + 2}
                  aria-selected={selected}
                  aria-label={entry.name}
                  data-entry-type={entry.type}
                  onClick={() => {
                    onSelect(entry);
                    gridRef.current?.focus({ preventScroll: true });
                  }}
                  onDoubleClick={() => onOpen(entry)}
                  className={cn(
                    "absolute left-0 top-0 flex w-full cursor-default select-none items-center gap-3 border-b border-slate-100 px-4 text-sm",
                    selected ? "bg-sky-50 ring-1 ring-inset ring-sky-300" : "hover:bg-slate-50",
                  )}
                  style={{ height: ROW_HEIGHT, transform: `translateY(${v.start}px)` }}
                >
                  <EntryIcon entry={entry} />
                  <div role="gridcell" className="min-w-0 flex-1 truncate font-medium text-slate-800">
                    {renderName ? renderName(entry) : entry.name}
                  </div>
                  <div role="gridcell" className="w-24 text-right tabular-nums text-slate-600">
                    {entry.type === "folder" ? "—" : formatBytes(entry.size)}
                  </div>
                  <div role="gridcell" className="hidden w-48 text-slate-600 @2xl:block">
                    {formatDate(entry.modifiedAt)}
                  </div>
                  <div role="gridcell" className="hidden w-48 truncate text-slate-600 @4xl:block">
                    {entry.owner ?? "—"}
                  </div>
                  <div role="gridcell" className="flex w-8 justify-end" onDoubleClick={(e) => e.stopPropagation()}>
                    {renderActions ? (
                      renderActions(entry)
                    ) : (
                      <MoreHorizontal className="size-4 text-slate-300" aria-hidden />
                    )}
                  </div>
                </div>
              );
            })}
          </div>
        )}
      </div>
    </div>
  );
}
