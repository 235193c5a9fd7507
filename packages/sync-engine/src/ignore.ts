import { nfc } from "./model.ts";

/**
 * Ignore rules, gitignore-style: the default patterns below, then the lines of the sync root's
 * `.cumulusignore`. Ignored items are not synced in either direction; see the README for what
 * the planner does when a synced item becomes ignored.
 *
 * Supported syntax (as in gitignore): `#` comments, blank lines, `!` negation (last match
 * wins), `\` escapes, a trailing `/` for folders only, a `/` at the start or in the middle to
 * anchor the pattern at the root (otherwise it matches a name at any depth), `*`, `?`,
 * `[...]` classes and `**` (leading, trailing, or between two slashes). As in git, nothing
 * inside an ignored folder can be re-included.
 */
export const DEFAULT_IGNORE_PATTERNS: readonly string[] = [
  ".DS_Store",
  "Thumbs.db",
  "desktop.ini",
  "~$*",
  "*.tmp",
  ".~lock.*#",
  "*.swp",
  ".cumulus*",
  // Downloads are written to `<dest>.cumulus-partial` before the rename (@cumulus/client).
  "*.cumulus-partial",
];

/**
 * Operating-system litter: safe to delete together with the folder that holds it (Finder
 * recreates .DS_Store). Other ignored files (editor temp files, Office lock files) may be
 * someone's open work, so a folder holding them is kept.
 */
export const JUNK_NAMES: readonly string[] = [".DS_Store", "Thumbs.db", "desktop.ini"];

const JUNK = new Set(JUNK_NAMES.map((n) => n.toLowerCase()));

export function isJunk(name: string): boolean {
  return JUNK.has(nfc(name).toLowerCase());
}

export interface IgnoreMatcher {
  /** Whether the patterns ignore this path itself (relative, "a/b/c"), ignoring its ancestors. */
  matches(relPath: string, isDir: boolean): boolean;
  /** Whether the path or any of its ancestor folders is ignored. */
  ignores(relPath: string, isDir: boolean): boolean;
}

export interface IgnoreOptions {
  /** Match without regard to case (case-insensitive file systems, as git's core.ignorecase). */
  caseInsensitive?: boolean;
  /** Put DEFAULT_IGNORE_PATTERNS first (default true); the given lines can still negate them. */
  defaults?: boolean;
}

interface Rule {
  re: RegExp;
  negate: boolean;
  dirOnly: boolean;
  /** Unanchored pattern without "/": tested against the last component only (cheaper, same result). */
  baseOnly: boolean;
}

export function compileIgnore(patterns: string | readonly string[] = [], opts: IgnoreOptions = {}): IgnoreMatcher {
  const lines = typeof patterns === "string" ? patterns.split(/\r?\n/) : [...patterns];
  const all = opts.defaults === false ? lines : [...DEFAULT_IGNORE_PATTERNS, ...lines];
  const flags = opts.caseInsensitive ? "iu" : "u";
  const rules: Rule[] = [];
  for (const line of all) {
    const rule = parseLine(line, flags);
    if (rule) rules.push(rule);
  }
  const matches = (relPath: string, isDir: boolean): boolean => {
    const p = nfc(relPath.replace(/^\/+/, ""));
    const base = p.slice(p.lastIndexOf("/") + 1);
    let ignored = false;
    for (const r of rules) {
      if (r.dirOnly && !isDir) continue;
      if (r.negate === ignored && r.re.test(r.baseOnly ? base : p)) ignored = !r.negate;
    }
    return ignored;
  };
  return {
    matches,
    ignores(relPath, isDir) {
      const parts = relPath.split("/").filter((s) => s.length > 0);
      for (let i = 1; i <= parts.length; i++) {
        if (matches(parts.slice(0, i).join("/"), i < parts.length || isDir)) return true;
      }
      return false;
    },
  };
}

function parseLine(raw: string, flags: string): Rule | null {
  let line = raw.replace(/\r$/, "");
  if (line.startsWith("#")) return null;
  // Trailing spaces are dropped unless escaped with a backslash.
  line = line.replace(/(?<!\\)\s+$/, "");
  if (line.length === 0) return null;
  let negate = false;
  if (line.startsWith("!")) {
    negate = true;
    line = line.slice(1);
  } else if (line.startsWith("\\!") || line.startsWith("\\#")) {
    line = line.slice(1);
  }
  let dirOnly = false;
  if (line.endsWith("/") && !line.endsWith("\\/")) {
    dirOnly = true;
    line = line.replace(/\/+$/, "");
  }
  if (line.length === 0) return null;
  const anchored = line.includes("/");
  if (line.startsWith("/")) line = line.slice(1);
  const src = globToRegex(nfc(line));
  return { re: new RegExp("^" + src + "$", flags), negate, dirOnly, baseOnly: !anchored };
}

function globToRegex(glob: string): string {
  let out = "";
  let i = 0;
  while (i < glob.length) {
    const c = glob[i]!;
    if (c === "*" && glob[i + 1] === "*") {
      const atStart = i === 0 || glob[i - 1] === "/";
      const next = glob[i + 2];
      if (atStart && next === "/") {
        out += "(?:.*/)?"; // "**/": zero or more folders
        i += 3;
        continue;
      }
      if (atStart && next === undefined) {
        out += ".*"; // trailing "/**": everything inside
        i += 2;
        continue;
      }
      out += "[^/]*"; // "**" elsewhere is an ordinary "*"
      i += 2;
      continue;
    }
    if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else if (c === "\\" && i + 1 < glob.length) {
      out += escapeRe(glob[i + 1]!);
      i += 2;
      continue;
    } else if (c === "[") {
      const end = glob.indexOf("]", i + 2);
      if (end === -1) out += "\\[";
      else {
        let body = glob.slice(i + 1, end);
        let neg = false;
        if (body.startsWith("!") || body.startsWith("^")) {
          neg = true;
          body = body.slice(1);
        }
        body = body.replace(/[\\\]^]/g, (m) => "\\" + m);
        out += `(?!/)[${neg ? "^" : ""}${body}]`;
        i = end + 1;
        continue;
      }
    } else out += escapeRe(c);
    i++;
  }
  return out;
}

function escapeRe(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? "\\" + c : c;
}
