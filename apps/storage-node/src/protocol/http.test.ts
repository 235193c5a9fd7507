import { expect, it } from "vitest";
import { parseRange } from "./http.ts";

it("parses single byte ranges and detects unsatisfiable ones", () => {
  expect(parseRange(undefined, 100)).toEqual({ kind: "none" });
  expect(parseRange("bytes=0-9", 100)).toEqual({ kind: "range", start: 0, end: 9 });
  expect(parseRange("bytes=90-", 100)).toEqual({ kind: "range", start: 90, end: 99 });
  expect(parseRange("bytes=90-500", 100)).toEqual({ kind: "range", start: 90, end: 99 });
  expect(parseRange("bytes=-10", 100)).toEqual({ kind: "range", start: 90, end: 99 });
  expect(parseRange("bytes=-500", 100)).toEqual({ kind: "range", start: 0, end: 99 });
  expect(parseRange("bytes=100-", 100)).toEqual({ kind: "unsatisfiable" });
  expect(parseRange("bytes=-0", 100)).toEqual({ kind: "unsatisfiable" });
  // Ignored (whole chunk served), as RFC 9110 allows.
  expect(parseRange("bytes=0-1,5-6", 100)).toEqual({ kind: "none" });
  expect(parseRange("items=0-1", 100)).toEqual({ kind: "none" });
  expect(parseRange("bytes=9-3", 100)).toEqual({ kind: "none" });
});
