import { AppError } from "./errors.ts";

/**
 * Names are stored NFC-normalised so that the same name typed on macOS (NFD) and on
 * Linux/Windows (NFC) is one entry. Names that Windows cannot represent are refused at
 * the boundary: a desktop agent on Windows must be able to materialise every entry.
 */
export const MAX_NAME_BYTES = 255;
export const MAX_PATH_BYTES = 4096;

const RESERVED_WINDOWS = /^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\..*)?$/i;
// Control characters and the characters Windows forbids in names.
// eslint-disable-next-line no-control-regex
const FORBIDDEN_CHARS = /[\u0000-\u001f\u007f/\\:*?"<>|]/;

export function nameProblem(raw: string): string | null {
  if (raw.length === 0) return "a name cannot be empty";
  if (raw.includes("\u0000")) return "a name cannot contain a NUL byte";
  if (raw.includes("/")) return "a name cannot contain '/'";
  if (raw === "." || raw === "..") return `'${raw}' is not allowed as a name`;
  const name = raw.normalize("NFC");
  if (utf8Length(name) > MAX_NAME_BYTES) return `a name is at most ${MAX_NAME_BYTES} bytes`;
  if (FORBIDDEN_CHARS.test(name)) return 'a name cannot contain control characters or any of \\ : * ? " < > |';
  if (RESERVED_WINDOWS.test(name)) return `'${name}' is a reserved device name on Windows`;
  if (/[ .]$/.test(name)) return "a name cannot end with a space or a dot";
  return null;
}

/** Validates and NFC-normalises one path component. */
export function validateName(raw: string): string {
  const problem = nameProblem(raw);
  if (problem) throw new AppError("INVALID_NAME", `invalid name ${JSON.stringify(truncate(raw))}: ${problem}`);
  return raw.normalize("NFC");
}

/**
 * Parses an absolute namespace path ("/a/b/c") into validated components. "//" and a
 * trailing "/" are tolerated; "." and ".." never are — there is no path arithmetic on
 * the server, so traversal cannot be expressed at all.
 */
export function parsePath(raw: string): string[] {
  if (typeof raw !== "string" || raw.length === 0) throw new AppError("INVALID_PATH", "a path cannot be empty");
  if (!raw.startsWith("/"))
    throw new AppError("INVALID_PATH", `a path must be absolute (start with '/'): ${JSON.stringify(truncate(raw))}`);
  if (utf8Length(raw) > MAX_PATH_BYTES) throw new AppError("INVALID_PATH", `a path is at most ${MAX_PATH_BYTES} bytes`);
  const parts = raw.split("/").filter((p) => p.length > 0);
  return parts.map((p) => {
    const problem = nameProblem(p);
    if (problem) throw new AppError("INVALID_PATH", `invalid path ${JSON.stringify(truncate(raw))}: ${problem}`);
    return p.normalize("NFC");
  });
}

export function formatPath(parts: readonly string[]): string {
  return "/" + parts.join("/");
}

export function normalizePath(raw: string): string {
  return formatPath(parsePath(raw));
}

export function parentPath(parts: readonly string[]): string[] {
  return parts.slice(0, -1);
}

function truncate(s: string): string {
  return s.length > 80 ? s.slice(0, 77) + "..." : s;
}

const encoder = new TextEncoder();
function utf8Length(s: string): number {
  return encoder.encode(s).length;
}
