import { describe, expect, it } from "vitest";
import { compileIgnore, DEFAULT_IGNORE_PATTERNS, isJunk } from "./ignore.ts";

describe("ignore rules", () => {
  const m = compileIgnore([]);

  it("ignores the defaults", () => {
    for (const p of [
      ".DS_Store",
      "a/b/.DS_Store",
      "Thumbs.db",
      "desktop.ini",
      "~$report.docx",
      "x/draft.tmp",
      ".~lock.report.odt#",
      ".notes.txt.swp",
      ".cumulusignore",
      ".cumulus-state",
      "big.iso.cumulus-partial",
    ])
      expect(m.ignores(p, false), p).toBe(true);
    for (const p of ["report.docx", "a/tmp", "tmp.txt", "lock.odt", "cumulus.txt", "a.swp.txt"])
      expect(m.ignores(p, false), p).toBe(false);
    expect(DEFAULT_IGNORE_PATTERNS).toContain(".cumulus*");
  });

  it("follows gitignore syntax", () => {
    const g = compileIgnore(
      [
        "# comment",
        "",
        "build/",
        "/top.txt",
        "docs/*.pdf",
        "**/cache",
        "logs/**",
        "a/**/z",
        "*.lo[gc]",
        "!keep.log",
        "\\#hash",
        "data?.csv",
        "trailing   ",
      ].join("\n"),
    );
    expect(g.ignores("build", true)).toBe(true);
    expect(g.ignores("build", false)).toBe(false); // a file named build is not the folder
    expect(g.ignores("src/build/x.js", false)).toBe(true); // inside an ignored folder
    expect(g.ignores("top.txt", false)).toBe(true);
    expect(g.ignores("sub/top.txt", false)).toBe(false); // anchored
    expect(g.ignores("docs/a.pdf", false)).toBe(true);
    expect(g.ignores("docs/x/a.pdf", false)).toBe(false); // * does not cross /
    expect(g.ignores("x/y/cache", true)).toBe(true);
    expect(g.ignores("logs/2024/a.txt", false)).toBe(true);
    expect(g.ignores("a/z", false)).toBe(true);
    expect(g.ignores("a/b/c/z", false)).toBe(true);
    expect(g.ignores("x.log", false)).toBe(true);
    expect(g.ignores("x.loc", false)).toBe(true);
    expect(g.ignores("keep.log", false)).toBe(false); // negation, last match wins
    expect(g.ignores("#hash", false)).toBe(true);
    expect(g.ignores("data1.csv", false)).toBe(true);
    expect(g.ignores("data10.csv", false)).toBe(false);
    expect(g.ignores("trailing", false)).toBe(true);
  });

  it("cannot re-include inside an ignored folder, and can un-ignore a default", () => {
    const g = compileIgnore(["build/", "!build/keep.txt", "!*.tmp"]);
    expect(g.ignores("build/keep.txt", false)).toBe(true);
    expect(g.ignores("draft.tmp", false)).toBe(false);
  });

  it("matches case-insensitively on such file systems, and NFC-normalizes", () => {
    expect(compileIgnore(["*.PDF"]).ignores("a.pdf", false)).toBe(false);
    expect(compileIgnore(["*.PDF"], { caseInsensitive: true }).ignores("a.pdf", false)).toBe(true);
    expect(compileIgnore([".ds_store"], { caseInsensitive: true, defaults: false }).ignores(".DS_Store", false)).toBe(
      true,
    );
    expect(compileIgnore(["caf\u00e9"], { defaults: false }).ignores("cafe\u0301", false)).toBe(true);
  });

  it("knows which ignored files are disposable junk", () => {
    expect(isJunk(".DS_Store")).toBe(true);
    expect(isJunk("thumbs.db")).toBe(true);
    expect(isJunk("x.tmp")).toBe(false);
  });
});
