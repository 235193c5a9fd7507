"use client";

import Link from "next/link";
import dynamic from "next/dynamic";
import { useRouter } from "next/navigation";
import { useCallback, useMemo, useRef, useState, type DragEvent, type FormEvent, type ReactNode } from "react";
import { useQuery } from "@tanstack/react-query";
import {
  ChevronRight,
  Download,
  FolderInput,
  FolderPlus,
  FolderUp,
  History,
  Info,
  MoreHorizontal,
  Pencil,
  Search,
  Share2,
  Trash2,
  Upload,
} from "lucide-react";
import { useTRPC } from "@/trpc/react.tsx";
import { Button } from "@/components/ui/button.tsx";
import { Input } from "@/components/ui/input.tsx";
import { Badge } from "@/components/ui/badge.tsx";
import { EmptyState, ErrorState, Loading } from "@/components/ui/feedback.tsx";
import { useToast } from "@/components/ui/toast.tsx";
import {
  DropdownMenu,
  DropdownMenuContent,
  DropdownMenuItem,
  DropdownMenuSeparator,
  DropdownMenuTrigger,
} from "@/components/ui/dropdown-menu.tsx";
import { cn } from "@/components/ui/cn.ts";
import { FileList, sortEntries, type Sort } from "./file-list.tsx";
import { collectDrop, collectInput, useUploads } from "./uploads.tsx";
import { appCode, errorMessage, filesHref, gatewayHref, splitPath } from "./format.ts";
import { can, type FileEntry, type Listing } from "./types.ts";

// Loaded when first opened: the first screen of a big folder should not wait for them.
const ShareDialog = dynamic(() => import("./share-dialog.tsx").then((m) => m.ShareDialog), { ssr: false });
const DetailsPanel = dynamic(() => import("./details-panel.tsx").then((m) => m.DetailsPanel), { ssr: false });
const MoveDialog = dynamic(() => import("./dialogs.tsx").then((m) => m.MoveDialog), { ssr: false });
const VersionsDialog = dynamic(() => import("./dialogs.tsx").then((m) => m.VersionsDialog), { ssr: false });
const NewFolderDialog = dynamic(() => import("./dialogs.tsx").then((m) => m.NewFolderDialog), { ssr: false });
const RenameDialog = dynamic(() => import("./dialogs.tsx").then((m) => m.RenameDialog), { ssr: false });
const DeleteDialog = dynamic(() => import("./dialogs.tsx").then((m) => m.DeleteDialog), { ssr: false });

export function Breadcrumbs({ path }: { path: string }) {
  const parts = splitPath(path);
  return (
    <nav aria-label="Breadcrumbs" className="min-w-0">
      <ol className="flex flex-wrap items-center gap-1 text-sm">
        <li>
          <Link
            href="/files/"
            prefetch={false}
            className="rounded px-1 text-slate-600 hover:text-slate-900 hover:underline"
          >
            All files
          </Link>
        </li>
        {parts.map((p, i) => {
          const last = i === parts.length - 1;
          return (
            <li key={i} className="inline-flex min-w-0 items-center gap-1">
              <ChevronRight className="size-3.5 shrink-0 text-slate-400" aria-hidden />
              {last ? (
                <span aria-current="page" className="truncate px-1 font-semibold text-slate-900">
                  {p}
                </span>
              ) : (
                <Link
                  href={filesHref("/" + parts.slice(0, i + 1).join("/"))}
                  prefetch={false}
                  className="truncate rounded px-1 text-slate-600 hover:text-slate-900 hover:underline"
                >
                  {p}
                </Link>
              )}
            </li>
          );
        })}
      </ol>
    </nav>
  );
}

/**
 * A row's "…" menu. Until first used it is a plain button: a Radix menu per row is real
 * work to hydrate, and a folder's first screen has dozens of rows.
 */
function RowActions({ entry, children }: { entry: FileEntry; children: ReactNode }) {
  const [mounted, setMounted] = useState(false);
  const trigger = (
    <Button
      size="icon"
      variant="ghost"
      className="size-8"
      aria-label={`Actions for ${entry.name}`}
      aria-haspopup="menu"
      // The grid is one tab stop (arrows move inside it); the toolbar has every action for the selected row.
      tabIndex={-1}
      onClick={(ev) => {
        ev.stopPropagation();
        setMounted(true);
      }}
    >
      <MoreHorizontal aria-hidden />
    </Button>
  );
  if (!mounted) return trigger;
  return (
    <DropdownMenu defaultOpen>
      <DropdownMenuTrigger asChild>{trigger}</DropdownMenuTrigger>
      <DropdownMenuContent onCloseAutoFocus={(ev) => ev.preventDefault()}>{children}</DropdownMenuContent>
    </DropdownMenu>
  );
}

/**
 * The file browser of one folder: breadcrumbs, the virtualized list, uploads by button or
 * drag-and-drop (files and whole folders), and every action on an entry.
 */
export function FileBrowser({ path, initial }: { path: string; initial: Listing | null }) {
  const trpc = useTRPC();
  const router = useRouter();
  const toast = useToast();
  const uploads = useUploads();
  const list = useQuery({
    ...trpc.files.list.queryOptions({ path }),
    ...(initial ? { placeholderData: initial } : {}),
    // Comparing 10,000 entries with the previous listing costs more than re-rendering the rows in view.
    structuralSharing: false,
  });
  const [sort, setSort] = useState<Sort>({ key: "name", dir: "asc" });
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [showDetails, setShowDetails] = useState(false);
  const [newFolder, setNewFolder] = useState(false);
  const [renaming, setRenaming] = useState<FileEntry | null>(null);
  const [moving, setMoving] = useState<FileEntry | null>(null);
  const [deleting, setDeleting] = useState<FileEntry | null>(null);
  const [sharing, setSharing] = useState<string | null>(null);
  const [versionsOf, setVersionsOf] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);
  const [query, setQuery] = useState("");
  const filesInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  const dragDepth = useRef(0);

  // A new folder starts with nothing selected. Reset while rendering, not in an effect: an
  // effect runs after the new folder is on screen, and would undo a click made meanwhile.
  const [selectionPath, setSelectionPath] = useState(path);
  if (selectionPath !== path) {
    setSelectionPath(path);
    setSelectedId(null);
  }

  const entries = useMemo(() => sortEntries(list.data?.entries ?? [], sort), [list.data, sort]);
  const selected = useMemo(() => entries.find((e) => e.id === selectedId) ?? null, [entries, selectedId]);
  const permission = list.data?.permission ?? "none";
  const writable = can(permission, "write");

  const open = useCallback(
    (e: FileEntry) => {
      if (e.type === "folder") router.push(filesHref(e.path));
      else window.location.assign(gatewayHref(e.path));
    },
    [router],
  );

  const upload = (files: ReturnType<typeof collectInput>, emptyDirs: string[] = []) => {
    if (!writable) {
      toast({
        title: "You cannot upload here",
        description: `You have ${permission} access to ${path}.`,
        variant: "error",
      });
      return;
    }
    if (files.length === 0 && emptyDirs.length === 0) return;
    uploads.enqueue(path, files, emptyDirs);
  };

  const hasFiles = (e: DragEvent) => Array.from(e.dataTransfer?.types ?? []).includes("Files");
  const onDragEnter = (e: DragEvent) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    dragDepth.current++;
    setDragging(true);
  };
  const onDragOver = (e: DragEvent) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = writable ? "copy" : "none";
  };
  const onDragLeave = () => {
    dragDepth.current = Math.max(0, dragDepth.current - 1);
    if (dragDepth.current === 0) setDragging(false);
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    dragDepth.current = 0;
    setDragging(false);
    const picked = collectDrop(e.dataTransfer);
    void picked.then(
      ({ files, emptyDirs }) => upload(files, emptyDirs),
      (err: unknown) =>
        toast({ title: "Could not read what was dropped", description: errorMessage(err), variant: "error" }),
    );
  };

  const search = (e: FormEvent) => {
    e.preventDefault();
    if (!query.trim()) return;
    router.push(`/search?q=${encodeURIComponent(query.trim())}&within=${encodeURIComponent(path)}`);
  };

  const rowActions = (e: FileEntry) => (
    <RowActions entry={e}>
      <DropdownMenuItem asChild>
        <a href={gatewayHref(e.path)} download>
          <Download aria-hidden /> {e.type === "folder" ? "Download as zip" : "Download"}
        </a>
      </DropdownMenuItem>
      <DropdownMenuItem onSelect={() => setSharing(e.path)}>
        <Share2 aria-hidden /> Share…
      </DropdownMenuItem>
      <DropdownMenuItem
        onSelect={() => {
          setSelectedId(e.id);
          setShowDetails(true);
        }}
      >
        <Info aria-hidden /> Details
      </DropdownMenuItem>
      {e.type === "file" ? (
        <DropdownMenuItem onSelect={() => setVersionsOf(e.path)}>
          <History aria-hidden /> Version history
        </DropdownMenuItem>
      ) : null}
      {writable ? (
        <>
          <DropdownMenuSeparator />
          <DropdownMenuItem onSelect={() => setRenaming(e)}>
            <Pencil aria-hidden /> Rename
          </DropdownMenuItem>
          <DropdownMenuItem onSelect={() => setMoving(e)}>
            <FolderInput aria-hidden /> Move…
          </DropdownMenuItem>
          <DropdownMenuItem destructive onSelect={() => setDeleting(e)}>
            <Trash2 aria-hidden /> Delete
          </DropdownMenuItem>
        </>
      ) : null}
    </RowActions>
  );

  const code = list.error ? appCode(list.error) : null;
  const folderName = splitPath(path).at(-1) ?? "All files";

  return (
    <div className="flex min-h-0 flex-col gap-4" data-testid="file-browser">
      <div className="flex flex-wrap items-center gap-3">
        <div className="min-w-0 flex-1">
          <Breadcrumbs path={path} />
          <h1 className="sr-only">{folderName}</h1>
          {list.data ? (
            <p className="mt-0.5 px-1 text-xs text-slate-500" data-testid="item-count">
              {list.data.total.toLocaleString("en")} item{list.data.total === 1 ? "" : "s"}
            </p>
          ) : null}
        </div>
        <form onSubmit={search} role="search" className="relative w-64 max-w-full">
          <Search className="pointer-events-none absolute left-2.5 top-2.5 size-4 text-slate-400" aria-hidden />
          <Input
            aria-label="Search by name"
            placeholder="Search in this folder"
            className="pl-8"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
          />
        </form>
      </div>
      <div className="flex flex-wrap items-center gap-2" role="toolbar" aria-label="Folder actions">
        <DropdownMenu>
          <DropdownMenuTrigger asChild>
            <Button size="sm" disabled={!writable}>
              <Upload aria-hidden /> Upload
            </Button>
          </DropdownMenuTrigger>
          <DropdownMenuContent align="start">
            <DropdownMenuItem onSelect={() => filesInput.current?.click()}>
              <Upload aria-hidden /> Files…
            </DropdownMenuItem>
            <DropdownMenuItem onSelect={() => folderInput.current?.click()}>
              <FolderUp aria-hidden /> Folder…
            </DropdownMenuItem>
          </DropdownMenuContent>
        </DropdownMenu>
        <input
          ref={filesInput}
          type="file"
          multiple
          hidden
          aria-label="Upload files"
          data-testid="upload-files-input"
          onChange={(e) => {
            upload(collectInput(e.currentTarget.files));
            e.currentTarget.value = "";
          }}
        />
        <input
          ref={folderInput}
          type="file"
          hidden
          aria-label="Upload a folder"
          data-testid="upload-folder-input"
          {...{ webkitdirectory: "", directory: "" }}
          onChange={(e) => {
            upload(collectInput(e.currentTarget.files));
            e.currentTarget.value = "";
          }}
        />
        <Button size="sm" variant="outline" disabled={!writable} onClick={() => setNewFolder(true)}>
          <FolderPlus aria-hidden /> New folder
        </Button>
        <span className="mx-1 h-6 w-px bg-slate-200" aria-hidden />
        <Button size="sm" variant="ghost" disabled={!selected} asChild={!!selected}>
          {selected ? (
            <a href={gatewayHref(selected.path)} download>
              <Download aria-hidden /> Download
            </a>
          ) : (
            <>
              <Download aria-hidden /> Download
            </>
          )}
        </Button>
        <Button size="sm" variant="ghost" disabled={!selected} onClick={() => selected && setSharing(selected.path)}>
          <Share2 aria-hidden /> Share
        </Button>
        <Button
          size="sm"
          variant="ghost"
          disabled={!selected || !writable}
          onClick={() => selected && setRenaming(selected)}
        >
          <Pencil aria-hidden /> Rename
        </Button>
        <Button
          size="sm"
          variant="ghost"
          disabled={!selected || !writable}
          onClick={() => selected && setMoving(selected)}
        >
          <FolderInput aria-hidden /> Move
        </Button>
        <Button
          size="sm"
          variant="ghost"
          disabled={!selected || !writable}
          onClick={() => selected && setDeleting(selected)}
        >
          <Trash2 aria-hidden /> Delete
        </Button>
        <div className="ml-auto flex items-center gap-2">
          {permission !== "none" && permission !== "manage" ? (
            <Badge variant="outline" title="Your access to this folder">
              {permission === "read" ? "View only" : "Can edit"}
            </Badge>
          ) : null}
          {can(permission, "manage") && path !== "/" ? (
            <Button size="sm" variant="outline" onClick={() => setSharing(path)}>
              <Share2 aria-hidden /> Share folder
            </Button>
          ) : null}
          <Button
            size="sm"
            variant={showDetails ? "secondary" : "ghost"}
            aria-pressed={showDetails}
            onClick={() => setShowDetails((s) => !s)}
          >
            <Info aria-hidden /> Details
          </Button>
        </div>
      </div>

      <div className="flex min-h-0 flex-col gap-4 lg:flex-row">
        <div
          className={cn(
            "relative flex min-h-0 min-w-0 flex-1 flex-col rounded-xl",
            dragging && "ring-2 ring-sky-400 ring-offset-2",
          )}
          data-testid="drop-zone"
          onDragEnter={onDragEnter}
          onDragOver={onDragOver}
          onDragLeave={onDragLeave}
          onDrop={onDrop}
        >
          {list.isPending && !list.data ? (
            <Loading label="Loading folder…" />
          ) : list.error && !list.data ? (
            <ErrorState
              title={code === "NOT_FOUND" ? "Folder not found" : "Could not open this folder"}
              message={errorMessage(list.error)}
              retry={() => void list.refetch()}
            />
          ) : (
            <FileList
              id="files"
              label={`Files in ${folderName}`}
              entries={entries}
              sort={sort}
              onSort={setSort}
              selectedId={selectedId}
              onSelect={(e) => setSelectedId(e?.id ?? null)}
              onOpen={open}
              onDelete={writable ? (e) => setDeleting(e) : undefined}
              onRename={writable ? (e) => setRenaming(e) : undefined}
              renderActions={rowActions}
              renderName={(e) =>
                e.type === "folder" ? (
                  <Link
                    href={filesHref(e.path)}
                    prefetch={false}
                    className="hover:underline"
                    tabIndex={-1}
                    onClick={(ev) => ev.stopPropagation()}
                  >
                    {e.name}
                  </Link>
                ) : (
                  e.name
                )
              }
              empty={
                <EmptyState
                  title="This folder is empty"
                  description={writable ? "Drop files or folders here, or use Upload." : "Nothing here yet."}
                />
              }
            />
          )}
          {dragging ? (
            <div className="pointer-events-none absolute inset-0 flex items-center justify-center rounded-xl bg-sky-50/80 text-sm font-medium text-sky-800">
              {writable ? `Drop to upload to ${folderName}` : "You cannot upload here"}
            </div>
          ) : null}
        </div>
        {showDetails ? (
          <DetailsPanel
            path={selected?.path ?? path}
            onClose={() => setShowDetails(false)}
            onVersions={setVersionsOf}
          />
        ) : null}
      </div>

      {newFolder ? <NewFolderDialog folder={path} open onOpenChange={setNewFolder} /> : null}
      {renaming ? <RenameDialog entry={renaming} onOpenChange={(o) => !o && setRenaming(null)} /> : null}
      {moving ? <MoveDialog entry={moving} onOpenChange={(o) => !o && setMoving(null)} /> : null}
      {deleting ? (
        <DeleteDialog
          entry={deleting}
          onOpenChange={(o) => !o && setDeleting(null)}
          onDeleted={() => setSelectedId(null)}
        />
      ) : null}
      {sharing ? <ShareDialog path={sharing} onOpenChange={(o) => !o && setSharing(null)} /> : null}
      {versionsOf ? <VersionsDialog path={versionsOf} onOpenChange={(o) => !o && setVersionsOf(null)} /> : null}
    </div>
  );
}
