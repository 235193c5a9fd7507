import { expect, test } from "vitest";
import { parseBytes } from "./bytes.ts";

test("reads sizes as typed, in binary multiples", () => {
  expect(parseBytes("1000000")).toBe(1_000_000);
  expect(parseBytes("512m")).toBe(512 * 2 ** 20);
  expect(parseBytes("10 GB")).toBe(10 * 2 ** 30);
  expect(parseBytes("1.5 TiB")).toBe(1.5 * 2 ** 40);
  expect(parseBytes("160MiB")).toBe(160 * 2 ** 20);
  expect(parseBytes(" 2k ")).toBe(2048);
});

test("empty is null, anything else unreadable is NaN", () => {
  expect(parseBytes("")).toBeNull();
  expect(parseBytes("   ")).toBeNull();
  for (const bad of ["-1", "ten GB", "1e9", "5 XB", "1.2.3", "GB"]) expect(parseBytes(bad), bad).toBeNaN();
});
