import path from "node:path";
import { watch } from "chokidar";
import { isDownloadTemp } from "./local.ts";

export interface FolderWatcher {
  close(): Promise<void>;
}

/**
 * Watches a folder tree and reports that something changed; the agent then rescans (the
 * scan's size/mtime/inode fast path keeps that cheap), so the watcher only has to be
 * prompt, not precise. Our own partial downloads and the state directory are not watched.
 */
export function watchFolder(
  root: string,
  opts: { skip: readonly string[]; onChange: (p: string) => void; onError?: (err: unknown) => void },
): FolderWatcher {
  const skip = opts.skip.map((s) => path.resolve(s));
  const w = watch(path.resolve(root), {
    ignoreInitial: true,
    persistent: true,
    followSymlinks: false,
    ignored: (p: string) => isDownloadTemp(path.basename(p)) || skip.some((s) => p === s || p.startsWith(s + path.sep)),
  });
  w.on("all", (_event: string, p: string) => opts.onChange(p));
  w.on("error", (err: unknown) => opts.onError?.(err));
  return { close: () => w.close() };
}
