/** Display helpers shared by the pages. */

const UNITS = ["B", "KB", "MB", "GB", "TB", "PB"];

/** 1536 → "1.5 KB" (powers of 1024, the way file managers show sizes). */
export function formatBytes(bytes: number | null | undefined, digits = 1): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "—";
  if (bytes < 1024) return `${bytes} B`;
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v >= 100 ? 0 : digits)} ${UNITS[i]}`;
}

/** "12 %" of used/capacity; "—" without capacity. */
export function formatPercent(part: number, whole: number): string {
  if (!whole) return "—";
  const p = (part / whole) * 100;
  return `${p < 10 ? p.toFixed(1) : Math.round(p)} %`;
}

const rtf = new Intl.RelativeTimeFormat("en", { numeric: "auto" });

/** "3 minutes ago", "in 2 hours" relative to `now`. */
export function formatRelative(iso: string | Date | null | undefined, now: Date = new Date()): string {
  if (!iso) return "never";
  const t = typeof iso === "string" ? new Date(iso) : iso;
  const s = Math.round((t.getTime() - now.getTime()) / 1000);
  const a = Math.abs(s);
  if (a < 45) return rtf.format(s, "second");
  if (a < 45 * 60) return rtf.format(Math.round(s / 60), "minute");
  if (a < 22 * 3600) return rtf.format(Math.round(s / 3600), "hour");
  if (a < 26 * 86400) return rtf.format(Math.round(s / 86400), "day");
  return formatDate(t);
}

/** "2026-11-21 20:15" in the viewer's time zone (UTC while rendering on the server). */
export function formatDate(iso: string | Date | null | undefined): string {
  if (!iso) return "—";
  const d = typeof iso === "string" ? new Date(iso) : iso;
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Milliseconds as "1.2 s", "3 min", "2 h". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 86_400_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${Math.round(ms / 86_400_000)} d`;
}

export { parseBytes } from "@cumulus/protocol/bytes";
