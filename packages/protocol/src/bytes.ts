/**
 * Byte sizes as people type them: "10 GB", "512m", "1.5 TiB", "1000000" (bytes). Binary
 * multiples whatever the spelling ("GB" is 2^30): capacities and quotas are compared with
 * what `df -h` and the dashboard show, which count that way.
 * Returns null for an empty string and NaN when it cannot be read.
 */
export function parseBytes(input: string): number | null {
  const s = input.trim();
  if (s === "") return null;
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/i.exec(s);
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  const pow = ["", "k", "m", "g", "t", "p"].indexOf(m[2]!.toLowerCase());
  return Math.round(n * 1024 ** pow);
}
