import { describe, expect, it } from "vitest";
import { formatFailure, runCase, runFuzz } from "./fuzz.ts";
import { genCase } from "./gen.ts";
import { BASE_SEED } from "./prng.ts";
import { ddmin } from "./shrink.ts";

// FUZZ_CASES scales the run (e.g. FUZZ_CASES=100000 for a soak); TEST_SEED replays one.
const CASES = process.env["FUZZ_CASES"] ? Number(process.env["FUZZ_CASES"]) : 4000;

describe("CanopyCheck-style randomized sync", () => {
  it.each([
    { label: "small edit lists", seed: BASE_SEED, cases: CASES, maxEdits: 8 },
    { label: "long edit lists", seed: BASE_SEED + 1, cases: Math.ceil(CASES / 4), maxEdits: 30 },
  ])("$label: terminates, converges, never orphans, never loses content", ({ seed, cases, maxEdits }) => {
    const r = runFuzz({ seed, cases, maxEdits });
    console.log(
      `sync fuzz seed ${seed}: ${r.cases} cases (≤${maxEdits} edits) in ${Math.round(r.ms)} ms; ` +
        `${r.ops} ops, ${r.conflicts} conflicted copies, rounds max ${r.rounds.max}`,
    );
    if (r.failures.length > 0) throw new Error(formatFailure(r.failures[0]!));
    expect(r.cases).toBe(cases);
  });

  it("replays a case exactly from its seed", () => {
    const a = runCase(genCase(12345, 12));
    const b = runCase(genCase(12345, 12));
    expect(a.log).toEqual(b.log);
    expect(a.failure).toBeNull();
  });
});

describe("ddmin", () => {
  it("finds a 1-minimal failing subset", () => {
    const items = Array.from({ length: 40 }, (_, i) => i);
    let calls = 0;
    const out = ddmin(items, (s) => {
      calls++;
      return s.includes(7) && s.includes(23) && s.includes(31);
    });
    expect(out).toEqual([7, 23, 31]);
    expect(calls).toBeLessThan(200);
  });

  it("returns [] when the failure does not need any item", () => {
    expect(ddmin([1, 2, 3], () => true)).toEqual([]);
  });
});
