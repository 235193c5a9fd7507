"use client";

import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { CheckCircle2, ChevronDown, ChevronUp, RotateCcw, Upload, X, XCircle } from "lucide-react";
import type { CumulusClient } from "@cumulus/client/client";
import type { uploadBlob as uploadBlobType } from "@cumulus/client/browser/upload-blob";
import { useTRPC } from "@/trpc/react.tsx";
import { Button } from "@/components/ui/button.tsx";
import { cn } from "@/components/ui/cn.ts";
import { errorMessage, formatBytes, joinPath } from "./format.ts";
import { refreshQueries } from "@/trpc/refresh.ts";

/** A file to upload and where it goes relative to the folder it was dropped on ("a/b.txt"). */
export type PickedFile = { file: File; relPath: string };

export type UploadStatus =
  "queued" | "hashing" | "uploading" | "committing" | "done" | "error" | "cancelled" | "conflict";

export type UploadItem = {
  id: number;
  file: File;
  /** Remote path of the file. */
  target: string;
  status: UploadStatus;
  /** 0..1: hashing counts for the first half, sending (or finding chunks already stored) the second. */
  progress: number;
  bytesTotal: number;
  /** Bytes the cluster already had (deduplicated). */
  bytesSkipped: number;
  error: string | null;
  /** Version of the existing file a "Replace" retry is based on. */
  currentVersion: number | null;
  baseVersion: number | null;
};

type Ctx = {
  items: UploadItem[];
  enqueue(folder: string, files: PickedFile[], emptyDirs?: string[]): void;
  cancel(id: number): void;
  retry(id: number, replace?: boolean): void;
  cancelAll(): void;
  clearFinished(): void;
};

const UploadContext = createContext<Ctx | null>(null);

type UploadBlobFn = typeof uploadBlobType;

const CONCURRENT_FILES = 2;
let nextId = 1;

function sameOriginFetch(input: string | URL, init?: RequestInit): Promise<Response> {
  const url = new URL(String(input), window.location.href);
  // The SDK sends no cookies by default; the control plane is on our origin and the
  // browser session cookie is our credential there. Storage nodes get only their token.
  const own = url.origin === window.location.origin;
  return globalThis.fetch(input, own ? { ...init, credentials: "same-origin" } : init);
}

/** Holds the upload queue for the whole file area, so uploads go on while the user browses. */
export function UploadProvider({ children }: { children: ReactNode }) {
  const [items, setItems] = useState<UploadItem[]>([]);
  const itemsRef = useRef<UploadItem[]>([]);
  const controllers = useRef(new Map<number, AbortController>());
  const running = useRef(new Set<number>());
  // The SDK (chunking, hashing, the upload engine) loads with the first upload, not with the page.
  const sdk = useRef<Promise<{ client: CumulusClient; uploadBlob: UploadBlobFn }> | null>(null);
  const loadSdk = useCallback(() => {
    sdk.current ??= Promise.all([import("@cumulus/client/client"), import("@cumulus/client/browser/upload-blob")]).then(
      ([c, u]) => ({
        client: new c.CumulusClient({ server: window.location.origin, fetch: sameOriginFetch }),
        uploadBlob: u.uploadBlob,
      }),
    );
    sdk.current.catch(() => {
      sdk.current = null;
    });
    return sdk.current;
  }, []);
  const queryClient = useQueryClient();
  const trpc = useTRPC();
  const flushTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const refreshTimer = useRef<ReturnType<typeof setTimeout> | null>(null);

  const publish = useCallback((now = false) => {
    if (now) {
      if (flushTimer.current) clearTimeout(flushTimer.current);
      flushTimer.current = null;
      setItems([...itemsRef.current]);
      return;
    }
    flushTimer.current ??= setTimeout(() => {
      flushTimer.current = null;
      setItems([...itemsRef.current]);
    }, 120);
  }, []);

  const update = useCallback(
    (id: number, patch: Partial<UploadItem>, now = false) => {
      itemsRef.current = itemsRef.current.map((it) => (it.id === id ? { ...it, ...patch } : it));
      publish(now);
    },
    [publish],
  );

  const refreshListings = useCallback(() => {
    // Many small files finish in bursts: refresh the listing once per burst.
    refreshTimer.current ??= setTimeout(() => {
      refreshTimer.current = null;
      void refreshQueries(queryClient, trpc.files.pathFilter());
    }, 250);
  }, [queryClient, trpc]);

  const pump = useCallback(() => {
    while (running.current.size < CONCURRENT_FILES) {
      const next = itemsRef.current.find((it) => it.status === "queued" && !running.current.has(it.id));
      if (!next) return;
      running.current.add(next.id);
      const ac = new AbortController();
      controllers.current.set(next.id, ac);
      update(next.id, { status: "hashing", progress: 0, error: null }, true);
      void (async () => {
        try {
          const { client, uploadBlob } = await loadSdk();
          const result = await uploadBlob(client, next.file, {
            path: next.target,
            baseVersion: next.baseVersion,
            parents: true,
            deviceName: "web",
            signal: ac.signal,
            onProgress: (p) => {
              const frac = p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : 1;
              const progress =
                p.phase === "hashing"
                  ? frac / 2
                  : p.phase === "done"
                    ? 1
                    : p.phase === "committing"
                      ? 0.99
                      : 0.5 + frac / 2;
              const status: UploadStatus =
                p.phase === "hashing" ? "hashing" : p.phase === "committing" ? "committing" : "uploading";
              update(next.id, { status, progress, bytesSkipped: p.bytesSkipped });
            },
          });
          update(next.id, { status: "done", progress: 1, bytesSkipped: result.bytesSkipped }, true);
          refreshListings();
        } catch (err) {
          if (ac.signal.aborted) {
            update(next.id, { status: "cancelled", error: null }, true);
          } else if (conflictVersion(err) !== null) {
            update(
              next.id,
              {
                status: "conflict",
                error: `${next.file.name} already exists here`,
                currentVersion: conflictVersion(err),
              },
              true,
            );
          } else {
            update(next.id, { status: "error", error: errorMessage(err) }, true);
          }
        } finally {
          running.current.delete(next.id);
          controllers.current.delete(next.id);
          pump();
        }
      })();
    }
  }, [loadSdk, update, refreshListings]);

  const enqueue = useCallback(
    (folder: string, files: PickedFile[], emptyDirs: string[] = []) => {
      const added: UploadItem[] = files.map(({ file, relPath }) => ({
        id: nextId++,
        file,
        target: joinPath(folder, relPath),
        status: "queued",
        progress: 0,
        bytesTotal: file.size,
        bytesSkipped: 0,
        error: null,
        currentVersion: null,
        baseVersion: null,
      }));
      itemsRef.current = [...itemsRef.current, ...added];
      publish(true);
      if (emptyDirs.length > 0) {
        void (async () => {
          const { client } = await loadSdk();
          for (const d of emptyDirs) {
            try {
              await client.mkdir(joinPath(folder, d), { parents: true });
            } catch {
              // shown through the listing; a failed empty folder is not worth a queue row
            }
          }
          refreshListings();
        })();
      }
      pump();
    },
    [loadSdk, publish, pump, refreshListings],
  );

  const cancel = useCallback(
    (id: number) => {
      const ac = controllers.current.get(id);
      if (ac) ac.abort(new Error("cancelled"));
      else update(id, { status: "cancelled" }, true);
    },
    [update],
  );

  const retry = useCallback(
    (id: number, replace = false) => {
      const it = itemsRef.current.find((x) => x.id === id);
      if (!it || running.current.has(id)) return;
      update(
        id,
        {
          status: "queued",
          progress: 0,
          error: null,
          baseVersion: replace ? it.currentVersion : it.baseVersion,
        },
        true,
      );
      pump();
    },
    [pump, update],
  );

  const cancelAll = useCallback(() => {
    for (const it of itemsRef.current) if (it.status === "queued") update(it.id, { status: "cancelled" });
    for (const ac of controllers.current.values()) ac.abort(new Error("cancelled"));
    publish(true);
  }, [publish, update]);

  const clearFinished = useCallback(() => {
    itemsRef.current = itemsRef.current.filter((it) => !["done", "cancelled"].includes(it.status));
    publish(true);
  }, [publish]);

  useEffect(
    () => () => {
      for (const ac of controllers.current.values()) ac.abort();
    },
    [],
  );

  const value = useMemo(
    () => ({ items, enqueue, cancel, retry, cancelAll, clearFinished }),
    [items, enqueue, cancel, retry, cancelAll, clearFinished],
  );
  return (
    <UploadContext.Provider value={value}>
      {children}
      <UploadPanel />
    </UploadContext.Provider>
  );
}

/**
 * The version of the existing file when an upload failed with CONFLICT because the name is
 * taken (the SDK's AppError, told apart by shape: importing its class would put zod in the
 * page's first bundle).
 */
function conflictVersion(err: unknown): number | null {
  const e = err as { code?: unknown; details?: { currentVersion?: unknown } } | null;
  return e?.code === "CONFLICT" && typeof e.details?.currentVersion === "number" ? e.details.currentVersion : null;
}

export function useUploads(): Ctx {
  const c = useContext(UploadContext);
  if (!c) throw new Error("useUploads outside UploadProvider");
  return c;
}

const ACTIVE: UploadStatus[] = ["queued", "hashing", "uploading", "committing"];

const STATUS_TEXT: Record<UploadStatus, string> = {
  queued: "Waiting",
  hashing: "Hashing",
  uploading: "Uploading",
  committing: "Finishing",
  done: "Done",
  error: "Failed",
  cancelled: "Cancelled",
  conflict: "Already exists",
};

/** The queue: per-file and total progress, cancel, retry, replace. */
function UploadPanel() {
  const { items, cancel, retry, cancelAll, clearFinished } = useUploads();
  const [collapsed, setCollapsed] = useState(false);
  if (items.length === 0) return null;
  const totalBytes = items.reduce((s, it) => s + it.bytesTotal, 0);
  const doneBytes = items.reduce((s, it) => s + it.bytesTotal * (it.status === "done" ? 1 : it.progress), 0);
  const active = items.filter((it) => ACTIVE.includes(it.status)).length;
  const done = items.filter((it) => it.status === "done").length;
  const failed = items.filter((it) => it.status === "error" || it.status === "conflict").length;
  const pct = totalBytes > 0 ? Math.round((doneBytes / totalBytes) * 100) : active ? 0 : 100;
  return (
    <section
      aria-label="Uploads"
      className="fixed bottom-4 right-4 z-40 w-[26rem] max-w-[calc(100vw-2rem)] overflow-hidden rounded-xl border border-slate-200 bg-white shadow-xl"
    >
      <header className="flex items-center gap-2 border-b border-slate-100 px-4 py-2.5">
        <Upload className="size-4 text-sky-600" aria-hidden />
        <div className="min-w-0 flex-1">
          <p className="text-sm font-medium" data-testid="upload-summary">
            {active > 0
              ? `Uploading ${active} of ${items.length} file${items.length === 1 ? "" : "s"}`
              : `${done} of ${items.length} uploaded${failed ? `, ${failed} need attention` : ""}`}
          </p>
          <div
            role="progressbar"
            aria-label="Total upload progress"
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={pct}
            className="mt-1 h-1.5 overflow-hidden rounded-full bg-slate-100"
          >
            <div className="h-full bg-sky-500 transition-[width]" style={{ width: `${pct}%` }} />
          </div>
        </div>
        <span className="text-xs tabular-nums text-slate-500">{pct}%</span>
        {active > 0 ? (
          <Button size="sm" variant="ghost" onClick={cancelAll}>
            Cancel all
          </Button>
        ) : (
          <Button size="sm" variant="ghost" onClick={clearFinished}>
            Clear
          </Button>
        )}
        <Button
          size="icon"
          variant="ghost"
          className="size-7"
          aria-label={collapsed ? "Show uploads" : "Hide uploads"}
          onClick={() => setCollapsed((c) => !c)}
        >
          {collapsed ? <ChevronUp aria-hidden /> : <ChevronDown aria-hidden />}
        </Button>
      </header>
      {collapsed ? null : (
        <ul className="max-h-72 divide-y divide-slate-100 overflow-y-auto">
          {items.map((it) => (
            <li key={it.id} aria-label={`Upload ${it.target}`} className="px-4 py-2 text-sm">
              <div className="flex items-center gap-2">
                <span className="min-w-0 flex-1 truncate" title={it.target}>
                  {it.target.slice(it.target.lastIndexOf("/") + 1)}
                </span>
                <span
                  className={cn(
                    "shrink-0 text-xs",
                    it.status === "done" && "text-emerald-700",
                    (it.status === "error" || it.status === "conflict") && "text-rose-700",
                    !["done", "error", "conflict"].includes(it.status) && "text-slate-500",
                  )}
                  data-status={it.status}
                >
                  {it.status === "done" ? (
                    <span className="inline-flex items-center gap-1">
                      <CheckCircle2 className="size-3.5" aria-hidden /> Done
                    </span>
                  ) : it.status === "error" ? (
                    <span className="inline-flex items-center gap-1">
                      <XCircle className="size-3.5" aria-hidden /> Failed
                    </span>
                  ) : ACTIVE.includes(it.status) && it.status !== "queued" ? (
                    `${STATUS_TEXT[it.status]} ${Math.round(it.progress * 100)}%`
                  ) : (
                    STATUS_TEXT[it.status]
                  )}
                </span>
                {ACTIVE.includes(it.status) ? (
                  <Button
                    size="icon"
                    variant="ghost"
                    className="size-7"
                    aria-label={`Cancel upload of ${it.file.name}`}
                    onClick={() => cancel(it.id)}
                  >
                    <X aria-hidden />
                  </Button>
                ) : it.status === "conflict" ? (
                  <Button size="sm" variant="outline" className="h-7" onClick={() => retry(it.id, true)}>
                    Replace
                  </Button>
                ) : it.status === "error" || it.status === "cancelled" ? (
                  <Button
                    size="icon"
                    variant="ghost"
                    className="size-7"
                    aria-label={`Retry upload of ${it.file.name}`}
                    onClick={() => retry(it.id)}
                  >
                    <RotateCcw aria-hidden />
                  </Button>
                ) : null}
              </div>
              {ACTIVE.includes(it.status) ? (
                <div
                  role="progressbar"
                  aria-label={`Progress of ${it.file.name}`}
                  aria-valuemin={0}
                  aria-valuemax={100}
                  aria-valuenow={Math.round(it.progress * 100)}
                  className="mt-1 h-1 overflow-hidden rounded-full bg-slate-100"
                >
                  <div className="h-full bg-sky-400 transition-[width]" style={{ width: `${it.progress * 100}%` }} />
                </div>
              ) : null}
              <p className="mt-0.5 text-xs text-slate-500">
                {formatBytes(it.bytesTotal)}
                {it.status === "done" && it.bytesSkipped > 0 ? ` · ${formatBytes(it.bytesSkipped)} already stored` : ""}
                {it.error && it.status !== "cancelled" ? <span className="text-rose-700"> · {it.error}</span> : null}
              </p>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

// --- picking files ---------------------------------------------------------------------

type FsEntry = {
  isFile: boolean;
  isDirectory: boolean;
  name: string;
  file?(ok: (f: File) => void, err: (e: unknown) => void): void;
  createReader?(): { readEntries(ok: (entries: FsEntry[]) => void, err: (e: unknown) => void): void };
};

async function readAll(dir: FsEntry): Promise<FsEntry[]> {
  const reader = dir.createReader!();
  const out: FsEntry[] = [];
  // readEntries returns at most ~100 entries per call: read until it returns none.
  for (;;) {
    const batch = await new Promise<FsEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) return out;
    out.push(...batch);
  }
}

async function walkEntry(entry: FsEntry, prefix: string, files: PickedFile[], emptyDirs: string[]): Promise<void> {
  const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => entry.file!(resolve, reject));
    files.push({ file, relPath: rel });
    return;
  }
  if (entry.isDirectory) {
    const children = await readAll(entry);
    if (children.length === 0) emptyDirs.push(rel);
    for (const c of children) await walkEntry(c, rel, files, emptyDirs);
  }
}

/**
 * Files and folders of a drop, folders walked recursively (webkitGetAsEntry). Must be
 * called synchronously in the drop handler: the item list is emptied after the event.
 */
export function collectDrop(dt: DataTransfer): Promise<{ files: PickedFile[]; emptyDirs: string[] }> {
  const entries: FsEntry[] = [];
  const plain: File[] = [];
  for (const item of Array.from(dt.items ?? [])) {
    if (item.kind !== "file") continue;
    const entry = (item as DataTransferItem & { webkitGetAsEntry?: () => FsEntry | null }).webkitGetAsEntry?.();
    if (entry) entries.push(entry);
    else {
      const f = item.getAsFile();
      if (f) plain.push(f);
    }
  }
  if (entries.length === 0 && plain.length === 0) plain.push(...Array.from(dt.files ?? []));
  return (async () => {
    const files: PickedFile[] = plain.map((file) => ({ file, relPath: file.name }));
    const emptyDirs: string[] = [];
    for (const e of entries) await walkEntry(e, "", files, emptyDirs);
    return { files, emptyDirs };
  })();
}

/** Files of an <input type=file> (with webkitdirectory, their paths inside the picked folder). */
export function collectInput(list: FileList | null): PickedFile[] {
  return Array.from(list ?? []).map((file) => ({
    file,
    relPath: (file as File & { webkitRelativePath?: string }).webkitRelativePath || file.name,
  }));
}
