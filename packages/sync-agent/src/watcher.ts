import path from "node:path";
import { watch } from "chokidar";
import { isDownloadTemp } from "./local.ts";

export interface FolderWatcher {
  close(): Promise<void>;
}

/**
 * Watches a folder tree and reports the paths that changed; the agent then looks at those
 * paths and their folders again (LocalScanner.update), with a full rescan now and then as
 * the safety net for events a watcher can miss. Our own partial downloads and the state directory are not watched.
 */
export function watchFolder(
  root: string,
  opts: {
    skip: readonly string[];
    onChange: (p: string) => void;
    onError?: (err: unknown) => void;
    /** The initial listing is done: events are reported from now on. */
    onReady?: () => void;
  },
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
  w.on("ready", () => opts.onReady?.());
  return { close: () => w.close() };
}
