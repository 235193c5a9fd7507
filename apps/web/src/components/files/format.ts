// Formatting and path helpers shared by the file browser's components (client and server).

const UNITS = ["B", "KB", "MB", "GB", "TB", "PB"];

/** 1536 → "1.5 KB" (binary multiples, the units people see in their OS). */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return "—";
  if (n < 1024) return `${n} B`;
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${UNITS[u]}`;
}

const dateFmt = new Intl.DateTimeFormat("en-GB", {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  timeZone: "UTC",
});

/** A fixed-zone (UTC) date, so server and client render the same text. */
export function formatDate(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "—" : `${dateFmt.format(d)} UTC`;
}

export function joinPath(parent: string, name: string): string {
  return parent === "/" ? `/${name}` : `${parent}/${name}`;
}

export function parentPath(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

export function splitPath(path: string): string[] {
  return path.split("/").filter((p) => p.length > 0);
}

/** The browser page of a folder: /files/a/b (each component URL-encoded). */
export function filesHref(path: string): string {
  const parts = splitPath(path);
  return parts.length === 0 ? "/files/" : `/files/${parts.map(encodeURIComponent).join("/")}`;
}

/** The gateway URL of a file (Range-capable download) or folder (zip). */
export function gatewayHref(path: string, opts: { version?: number; download?: boolean } = {}): string {
  const parts = splitPath(path).map(encodeURIComponent).join("/");
  const q = new URLSearchParams();
  if (opts.version) q.set("version", String(opts.version));
  if (opts.download !== false) q.set("download", "1");
  const qs = q.toString();
  return `/api/gateway/files/${parts}${qs ? `?${qs}` : ""}`;
}

/** Human message of an error from tRPC, fetch or the SDK. */
export function errorMessage(err: unknown): string {
  if (err && typeof err === "object" && "message" in err && typeof (err as { message: unknown }).message === "string") {
    return (err as { message: string }).message;
  }
  return String(err);
}

/** The app error code of a tRPC error, when the server sent one. */
export function appCode(err: unknown): string | null {
  const data = (err as { data?: { appCode?: unknown } } | null)?.data;
  return typeof data?.appCode === "string" ? data.appCode : null;
}
