import type { NodeType } from "./model.ts";

/**
 * Why an item gets a new name instead of the one it wanted:
 * - conflict: two different contents (or a file and a folder) for one name;
 * - case: the name differs only by case from a sibling's, which a case-insensitive file
 *   system cannot hold side by side;
 * - unicode: the name differs only by Unicode normalization (NFC "é" vs NFD "e\u0301"), which
 *   the server (NFC) and normalizing file systems treat as one name;
 * - selective: the name is taken by a remote folder this device does not sync.
 */
export type ConflictKind = "conflict" | "case" | "unicode" | "selective";

export interface ConflictNameOptions {
  kind: ConflictKind;
  /** Shown in content conflicts so that people can tell whose copy it is. */
  device: string;
  /** YYYY-MM-DD. */
  date: string;
}

const MAX_NAME_BYTES = 255;
const encoder = new TextEncoder();

/** "report.final.pdf" → ["report.final", ".pdf"]; folders and dot-files have no extension. */
export function splitExtension(name: string, type: NodeType): [string, string] {
  if (type === "folder") return [name, ""];
  const dot = name.lastIndexOf(".");
  // ".bashrc" is a name, not an extension; "a." has none either.
  if (dot <= 0 || dot === name.length - 1) return [name, ""];
  return [name.slice(0, dot), name.slice(dot)];
}

export function formatDate(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** Device names go into file names, so characters no platform accepts are replaced. */
export function sanitizeDevice(device: string): string {
  // eslint-disable-next-line no-control-regex
  const s = device.replace(/[\u0000-\u001f\u007f/\\:*?"<>|]/g, "-").trim();
  return s.length > 0 ? s.slice(0, 60) : "device";
}

/**
 * `name (conflicted copy <device> <date>).ext`, `name (case conflict).ext`,
 * `name (unicode conflict).ext` or `name (selective sync conflict).ext`; `counter` ≥ 2 is added inside the parentheses when the
 * plain variant is taken. The base is shortened so the result stays within 255 UTF-8 bytes.
 */
export function conflictName(name: string, type: NodeType, opts: ConflictNameOptions, counter = 1): string {
  const [base, ext] = splitExtension(name, type);
  const label =
    opts.kind === "conflict"
      ? `conflicted copy ${sanitizeDevice(opts.device)} ${opts.date}`
      : opts.kind === "case"
        ? "case conflict"
        : opts.kind === "unicode"
          ? "unicode conflict"
          : "selective sync conflict";
  const suffix = ` (${label}${counter > 1 ? ` ${counter}` : ""})${ext}`;
  return truncateToBytes(base, MAX_NAME_BYTES - encoder.encode(suffix).length) + suffix;
}

/** First candidate `make(1), make(2), …` that `taken` refuses not. */
export function uniqueName(make: (counter: number) => string, taken: (name: string) => boolean): string {
  for (let i = 1; ; i++) {
    const n = make(i);
    if (!taken(n)) return n;
  }
}

function truncateToBytes(s: string, max: number): string {
  if (encoder.encode(s).length <= max) return s;
  let out = "";
  let bytes = 0;
  // Whole code points only, so a surrogate pair is never split.
  for (const ch of s) {
    const b = encoder.encode(ch).length;
    if (bytes + b > Math.max(1, max)) break;
    out += ch;
    bytes += b;
  }
  return out;
}
