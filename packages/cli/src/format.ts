const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** 0 B, 512 B, 1.0 KiB, 256.0 MiB, 1.5 GiB */
export function humanSize(bytes: number): string {
  if (!Number.isFinite(bytes)) return `${bytes} B`;
  if (bytes < 1024) return `${Math.round(bytes)} B`;
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${UNITS[u]}`;
}

export function humanDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** ISO timestamp as local "YYYY-MM-DD HH:MM"; anything unparseable is shown as is. */
export function shortDate(iso: string | null | undefined): string {
  if (!iso) return "-";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

export type Align = "left" | "right";

/**
 * Columns padded to their widest cell, two spaces apart; `right` for numbers. The last
 * column is not padded so lines carry no trailing blanks.
 */
export function table(header: string[] | null, rows: string[][], align: Align[] = []): string {
  const all = header ? [header, ...rows] : rows;
  if (all.length === 0) return "";
  const cols = Math.max(...all.map((r) => r.length));
  const widths = Array.from({ length: cols }, (_, i) => Math.max(...all.map((r) => width(r[i] ?? ""))));
  return all
    .map((r) =>
      Array.from({ length: cols }, (_, i) => {
        const cell = r[i] ?? "";
        const pad = " ".repeat(widths[i]! - width(cell));
        if (align[i] === "right") return pad + cell;
        return i === cols - 1 ? cell : cell + pad;
      })
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/** Display width, counting code points (good enough for names; no East Asian widths). */
function width(s: string): number {
  return [...s].length;
}

export function percent(part: number, whole: number): string {
  if (whole <= 0) return "-";
  return `${((100 * part) / whole).toFixed(1)}%`;
}
