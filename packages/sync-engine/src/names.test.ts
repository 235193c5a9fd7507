import { describe, expect, it } from "vitest";
import { conflictName, formatDate, sanitizeDevice, splitExtension, uniqueName } from "./names.ts";

const opts = { kind: "conflict" as const, device: "laptop", date: "2025-03-04" };

describe("conflict names", () => {
  it("puts the label before the extension", () => {
    expect(conflictName("report.pdf", "file", opts)).toBe("report (conflicted copy laptop 2025-03-04).pdf");
    expect(conflictName("archive.tar.gz", "file", opts)).toBe("archive.tar (conflicted copy laptop 2025-03-04).gz");
    expect(conflictName("Makefile", "file", opts)).toBe("Makefile (conflicted copy laptop 2025-03-04)");
    expect(conflictName(".bashrc", "file", opts)).toBe(".bashrc (conflicted copy laptop 2025-03-04)");
    expect(conflictName("photos.2024", "folder", opts)).toBe("photos.2024 (conflicted copy laptop 2025-03-04)");
  });

  it("names case and selective-sync conflicts, and counts", () => {
    expect(conflictName("a.txt", "file", { ...opts, kind: "case" })).toBe("a (case conflict).txt");
    expect(conflictName("Photos", "folder", { ...opts, kind: "selective" })).toBe("Photos (selective sync conflict)");
    expect(conflictName("cafe\u0301", "file", { ...opts, kind: "unicode" })).toBe("cafe\u0301 (unicode conflict)");
    expect(conflictName("a.txt", "file", opts, 3)).toBe("a (conflicted copy laptop 2025-03-04 3).txt");
  });

  it("stays within 255 UTF-8 bytes without splitting characters", () => {
    const long = "é".repeat(200) + ".txt";
    const n = conflictName(long, "file", opts);
    expect(new TextEncoder().encode(n).length).toBeLessThanOrEqual(255);
    expect(n.endsWith("(conflicted copy laptop 2025-03-04).txt")).toBe(true);
    expect(n).not.toContain("\uFFFD");
  });

  it("keeps device names usable in file names", () => {
    expect(sanitizeDevice('Bob\'s "PC": 2/3')).toBe("Bob's -PC-- 2-3");
    expect(sanitizeDevice("  ")).toBe("device");
  });

  it("helpers", () => {
    expect(splitExtension("a.", "file")).toEqual(["a.", ""]);
    expect(formatDate(new Date("2025-12-31T23:59:59Z"))).toBe("2025-12-31");
    const taken = new Set(["x", "x 2"]);
    expect(
      uniqueName(
        (i) => (i === 1 ? "x" : `x ${i}`),
        (n) => taken.has(n),
      ),
    ).toBe("x 3");
  });
});
