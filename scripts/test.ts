// `npm test`: lint, type-check, unit + integration tests (Vitest), then multi-process and
// browser tests (Playwright). Runs every stage even after a failure so one run shows
// everything that is wrong, and ends with one summary line that CI can read.
import { spawn } from "node:child_process";
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const tools = path.join(root, ".tools");

type Outcome = { ok: boolean; passed: number; failed: number; skipped: number; failures?: string[] };
type Stage = { name: string; run: () => Promise<Outcome> };

/**
 * The first lines of a failure message: CI shows only the tail of the log, so every failed
 * test is named again at the very end, with enough of its error to start from.
 */
function brief(title: string, message: string | undefined): string {
  // eslint-disable-next-line no-control-regex -- ANSI colour codes from the reporters
  const clean = (message ?? "").replace(/\u001b\[[0-9;]*m/g, "");
  // The message and the first stack frame of our own code, not the runner's frames.
  const all = clean.split("\n").filter((l) => l.trim() !== "");
  const frame = all.find((l) => /^\s+at /.test(l) && !l.includes("node_modules"));
  const lines = [...all.filter((l) => !/^\s+at /.test(l)).slice(0, 6), ...(frame ? [frame.trim()] : [])];
  return [`  ✘ ${title}`, ...lines.map((l) => `      ${l.slice(0, 300)}`)].join("\n");
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: "inherit", env: { ...process.env, ...env } });
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const npx = (bin: string) => path.join(root, "node_modules", ".bin", bin);

async function plain(cmd: string, args: string[]) {
  const code = await run(cmd, args);
  return { ok: code === 0, passed: code === 0 ? 1 : 0, failed: code === 0 ? 0 : 1, skipped: 0 };
}

async function vitest(extra: string[]): Promise<Outcome> {
  const out = path.join(tools, "vitest-report.json");
  await rm(out, { force: true });
  const code = await run(npx("vitest"), [
    "run",
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${out}`,
    ...extra,
  ]);
  try {
    const r = JSON.parse(await readFile(out, "utf8")) as {
      numPassedTests: number;
      numFailedTests: number;
      numPendingTests: number;
      numTodoTests: number;
      testResults?: {
        name: string;
        message?: string;
        assertionResults?: { fullName: string; status: string; failureMessages?: string[] }[];
      }[];
    };
    const failures: string[] = [];
    for (const file of r.testResults ?? []) {
      const rel = path.relative(root, file.name);
      const failedTests = (file.assertionResults ?? []).filter((t) => t.status === "failed");
      for (const t of failedTests) failures.push(brief(`${rel} › ${t.fullName}`, t.failureMessages?.[0]));
      // A file that failed outside any test (import error, hook timeout).
      if (failedTests.length === 0 && file.message) failures.push(brief(rel, file.message));
    }
    return {
      ok: code === 0,
      passed: r.numPassedTests,
      failed: r.numFailedTests + (code !== 0 && r.numFailedTests === 0 ? 1 : 0),
      skipped: r.numPendingTests + r.numTodoTests,
      failures,
    };
  } catch {
    return { ok: false, passed: 0, failed: 1, skipped: 0 };
  }
}

async function playwright(extra: string[]): Promise<Outcome> {
  const out = path.join(tools, "playwright-report.json");
  await rm(out, { force: true });
  const code = await run(npx("playwright"), ["test", "-c", "e2e/playwright.config.ts", ...extra], {
    PLAYWRIGHT_JSON_OUTPUT_NAME: out,
  });
  try {
    const r = JSON.parse(await readFile(out, "utf8")) as {
      stats: { expected: number; unexpected: number; flaky: number; skipped: number };
      suites?: PwSuite[];
    };
    const failures: string[] = [];
    const visit = (suite: PwSuite, titles: string[]) => {
      for (const spec of suite.specs ?? [])
        for (const t of spec.tests ?? [])
          if (t.status === "unexpected") {
            const error = t.results?.find((x) => x.error)?.error;
            failures.push(brief([...titles, spec.title].filter(Boolean).join(" › "), error?.message));
          }
      for (const child of suite.suites ?? []) visit(child, [...titles, child.title]);
    };
    for (const suite of r.suites ?? []) visit(suite, [suite.title]);
    return {
      ok: code === 0,
      passed: r.stats.expected + r.stats.flaky,
      failed: r.stats.unexpected + (code !== 0 && r.stats.unexpected === 0 ? 1 : 0),
      skipped: r.stats.skipped,
      failures,
    };
  } catch {
    return { ok: false, passed: 0, failed: 1, skipped: 0 };
  }
}

interface PwSuite {
  title: string;
  specs?: { title: string; tests?: { status: string; results?: { error?: { message?: string } }[] }[] }[];
  suites?: PwSuite[];
}

const args = process.argv.slice(2);
const onlyIdx = args.indexOf("--only");
const only = onlyIdx >= 0 ? args[onlyIdx + 1] : undefined;
const rest = onlyIdx >= 0 ? args.filter((_, i) => i !== onlyIdx && i !== onlyIdx + 1) : args;

const stages: Stage[] = [
  { name: "lint", run: () => plain(npx("eslint"), ["--max-warnings=0", "."]) },
  { name: "format", run: () => plain(npx("prettier"), ["--check", "--log-level=warn", "."]) },
  { name: "typecheck", run: () => plain(npx("turbo"), ["run", "typecheck", "--output-logs=errors-only"]) },
  { name: "unit", run: () => vitest(rest) },
  // Network-namespace WAN emulator (needs root; skips itself with a reason elsewhere).
  { name: "wan", run: () => vitest(["--config", "e2e/wan/vitest.config.ts", ...rest]) },
  { name: "e2e", run: () => playwright(rest) },
];

const selected = stages.filter((s) => {
  if (!only) return true;
  if (only === "lint") return s.name === "lint" || s.name === "format";
  return s.name === only;
});
if (selected.length === 0) {
  console.error(`unknown stage '${only}': expected one of ${stages.map((s) => s.name).join(", ")}`);
  process.exit(2);
}

let passed = 0;
let failed = 0;
let skipped = 0;
const failedStages: string[] = [];
const failures: string[] = [];
const started = Date.now();
for (const stage of selected) {
  const t0 = Date.now();
  console.error(`cumulus: test stage: ${stage.name}`);
  const r = await stage.run();
  passed += r.passed;
  failed += r.failed;
  skipped += r.skipped;
  if (!r.ok) failedStages.push(stage.name);
  for (const f of r.failures ?? []) failures.push(`[${stage.name}]\n${f}`);
  console.error(
    `cumulus: stage ${stage.name} ${r.ok ? "passed" : "FAILED"} in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
}
if (failures.length > 0) console.error(`cumulus: failed tests:\n${failures.join("\n")}`);
console.error(
  `cumulus: all stages done in ${((Date.now() - started) / 1000).toFixed(0)} s${failedStages.length ? `; failed: ${failedStages.join(", ")}` : ""}`,
);
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failedStages.length ? 1 : 0);
