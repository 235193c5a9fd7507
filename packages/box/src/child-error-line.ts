/**
 * The line of a child's output that says why it died, for the box's one-line report. A
 * storage node that fails to start logs a pino "fatal" line and exits 1; without this the
 * box said only "exited with code 1" and the reason sat in a log file nobody (CI least of
 * all) had at hand.
 */

/** pino's "error" level; "fatal" is 60. */
const ERROR_LEVEL = 50;

/** The message of an error-level pino line, or a plain stderr line; null for anything else. */
export function errorMessageOf(line: string, stream: "stdout" | "stderr"): string | null {
  const text = line.trim();
  if (!text) return null;
  if (text.startsWith("{")) {
    // pino writes the level first: a glance decides for the many info lines, whose JSON is
    // not worth parsing (the control plane logs every request).
    const level = /^\{"level":(\d+)/.exec(text);
    if (level && Number(level[1]) < ERROR_LEVEL) return null;
    try {
      const rec = JSON.parse(text) as { level?: unknown; msg?: unknown; err?: { message?: unknown } };
      if (typeof rec.level !== "number" || rec.level < ERROR_LEVEL) return null;
      const msg = typeof rec.msg === "string" ? rec.msg : "";
      const errMsg = typeof rec.err?.message === "string" ? rec.err.message : "";
      if (msg && errMsg && !msg.includes(errMsg)) return `${msg}: ${errMsg}`;
      return msg || errMsg || null;
    } catch {
      // not JSON after all: treat it like any other line
    }
  }
  return stream === "stderr" ? text : null;
}

/** Longer messages are cut: the report is one line on a terminal. */
export function shorten(message: string, max = 300): string {
  const one = message.replace(/\s+/g, " ");
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}
