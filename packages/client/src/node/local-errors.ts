import { AppError } from "@cumulus/protocol/errors";

/**
 * Maps a local file-system failure to an AppError naming the path, so callers (the CLI's
 * one-line errors and exit codes) treat local and remote failures alike.
 */
export function localError(err: unknown, localPath: string): unknown {
  if (err instanceof AppError) return err;
  if (err instanceof Error && err.name === "AbortError") return err;
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case "ENOENT":
      return new AppError("NOT_FOUND", `no such local file or folder: ${localPath}`);
    case "EACCES":
    case "EPERM":
      return new AppError("FORBIDDEN", `permission denied: ${localPath}`);
    case "EISDIR":
      return new AppError("BAD_REQUEST", `${localPath} is a folder`);
    case "ENOTDIR":
      return new AppError("BAD_REQUEST", `${localPath}: a parent is not a folder`);
    case "EEXIST":
      return new AppError("ALREADY_EXISTS", `${localPath} already exists`);
    case "ENOSPC":
      return new AppError("DISK_FULL", `no space left on the local disk writing ${localPath}`);
    default: {
      const msg = err instanceof Error ? err.message.split("\n")[0] : String(err);
      return new AppError("INTERNAL", `${localPath}: ${msg}`);
    }
  }
}
