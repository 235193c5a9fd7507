// docs/benchmarks.md: one section per benchmark between markers, replaced by each recorded
// run, with a history table that keeps one row per run.
import { readFile, rename, writeFile } from "node:fs/promises";
import { renderMarkdown, type BenchResult } from "./harness.ts";
import type { MachineInfo } from "./machine.ts";

const HEADER = `# Benchmarks

Measured with \`npm run bench -- NAME\` (see [\`bench/README.md\`](../bench/README.md)); each
section below is rewritten by the benchmark it belongs to. Every ratio compares numbers taken
in the same run on the same machine and disk: these machines are noisy, so numbers from
different runs are not compared with each other. MB/s means 10^6 bytes per second.
`;

const begin = (name: string) => `<!-- bench:${name}:begin -->`;
const end = (name: string) => `<!-- bench:${name}:end -->`;
const HISTORY_MARK = "<!-- history -->";

export interface RunInfo {
  name: string;
  title: string;
  method: string;
  command: string;
  date: Date;
  machine: MachineInfo;
  result: BenchResult;
  /** Load average when the run ended. */
  loadEnd: string;
}

/** The section's markdown, between (and including) its markers. */
export function renderSection(run: RunInfo, previousHistory: string[]): string {
  const m = run.machine;
  const date = run.date.toISOString().replace(/\.\d+Z$/, "Z");
  const histKeys = Object.keys(run.result.history);
  const histHeader = ["Date", ...histKeys, "Command"];
  const histRow = `| ${[date, ...histKeys.map((k) => run.result.history[k]!), `\`${run.command}\``].join(" | ")} |`;
  const keptRows = previousHistory.filter(
    (r) => r.startsWith("| ") && !r.startsWith("| Date") && !/^\|[\s|:-]+\|$/.test(r),
  );
  const out = [
    begin(run.name),
    `## ${run.title}`,
    "",
    run.method.trim(),
    "",
    `### Last run: ${run.result.headline}`,
    "",
    `- Date: ${date}`,
    `- Command: \`${run.command}\``,
    `- Machine: ${m.cores} × ${m.cpu}, ${m.ramGiB} GiB RAM, ${m.kernel}, Node ${m.node}, load average ${m.loadavg} at start, ${run.loadEnd} at the end`,
    `- Disk: ${m.disk}`,
    "",
  ];
  for (const t of run.result.tables) out.push(`**${t.title}**`, "", renderMarkdown(t.table), "");
  if (run.result.notes.length) {
    out.push("Notes:", "");
    for (const n of run.result.notes) out.push(`- ${n}`);
    out.push("");
  }
  out.push(
    "### History",
    "",
    "One row per recorded run (newest last); compare ratios, not absolute numbers, across rows.",
    "",
    HISTORY_MARK,
    `| ${histHeader.join(" | ")} |`,
    `| ${histHeader.map((_, i) => (i === 0 || i === histHeader.length - 1 ? "---" : "---:")).join(" | ")} |`,
    ...keptRows.filter((r) => r.split("|").length === histRow.split("|").length),
    histRow,
    "",
    end(run.name),
  );
  return out.join("\n");
}

/** Replaces the benchmark's section in `file` (appending it the first time), atomically. */
export async function recordRun(file: string, run: RunInfo): Promise<void> {
  let doc: string;
  try {
    doc = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    doc = HEADER;
  }
  const b = doc.indexOf(begin(run.name));
  const e = doc.indexOf(end(run.name));
  let history: string[] = [];
  if (b >= 0 && e > b) {
    const old = doc.slice(b, e);
    const h = old.indexOf(HISTORY_MARK);
    if (h >= 0)
      history = old
        .slice(h + HISTORY_MARK.length)
        .split("\n")
        .map((l) => l.trim());
  }
  const section = renderSection(run, history);
  const next =
    b >= 0 && e > b
      ? doc.slice(0, b) + section + doc.slice(e + end(run.name).length)
      : `${doc.trimEnd()}\n\n${section}\n`;
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, next);
  await rename(tmp, file);
}
