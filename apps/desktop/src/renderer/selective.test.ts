import { describe, expect, it } from "vitest";
import { secretFromHash } from "./fragment.ts";
import { includedState, normalize, sameSet, toggle, toggleable } from "./selective.ts";

describe("selective sync choices", () => {
  it("excluding a folder replaces the exclusions below it", () => {
    expect(toggle("/Projects", ["/Projects/B", "/Photos"])).toEqual(["/Photos", "/Projects"]);
  });

  it("re-including a folder removes only its own exclusion", () => {
    expect(toggle("/Photos", ["/Photos", "/Projects/B"])).toEqual(["/Projects/B"]);
  });

  it("shows a folder with an excluded subfolder as partial, and its children as excluded", () => {
    const ex = ["/Projects/B"];
    expect(includedState("/Projects", ex)).toBe("partial");
    expect(includedState("/Projects/B", ex)).toBe(false);
    expect(includedState("/Projects/B/deep", ex)).toBe(false);
    expect(includedState("/Projects/A", ex)).toBe(true);
    // A sibling whose name starts the same is not inside.
    expect(includedState("/Projects/Bee", ex)).toBe(true);
  });

  it("does not toggle a folder under an excluded one", () => {
    expect(toggleable("/Photos/2024", ["/Photos"])).toBe(false);
    expect(toggle("/Photos/2024", ["/Photos"])).toEqual(["/Photos"]);
    expect(toggleable("/Photos", ["/Photos"])).toBe(true);
  });

  it("normalizes duplicates and implied paths, and compares as sets", () => {
    expect(normalize(["/b", "/a", "/a/x", "/b"])).toEqual(["/a", "/b"]);
    expect(sameSet(["/a", "/b"], ["/b", "/a", "/a/x"])).toBe(true);
    expect(sameSet(["/a"], ["/a", "/b"])).toBe(false);
  });
});

describe("secretFromHash", () => {
  it("reads the secret from the URL fragment", () => {
    expect(secretFromHash("#secret=abc123")).toBe("abc123");
    expect(secretFromHash("#x=1&secret=s%2Fx")).toBe("s/x");
    expect(secretFromHash("#secret=")).toBeNull();
    expect(secretFromHash("")).toBeNull();
  });
});
