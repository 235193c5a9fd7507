import { describe, expect, it } from "vitest";
import { ago, bytes } from "./format.ts";

describe("format", () => {
  it("writes sizes with a unit people read", () => {
    expect(bytes(0)).toBe("0 B");
    expect(bytes(1023)).toBe("1023 B");
    expect(bytes(1536)).toBe("1.5 KB");
    expect(bytes(40 * 1024 * 1024)).toBe("40 MB");
    expect(bytes(3 * 1024 ** 4)).toBe("3.0 TB");
  });

  it("says how long ago, and never in the future", () => {
    const now = 1_700_000_000_000;
    expect(ago(now + 5000, now)).toBe("just now");
    expect(ago(now - 30_000, now)).toBe("30 s ago");
    expect(ago(now - 5 * 60_000, now)).toBe("5 min ago");
    expect(ago(now - 3 * 3_600_000, now)).toBe("3 h ago");
  });
});
