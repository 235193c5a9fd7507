import { describe, expect, it } from "vitest";
import { makeStatus } from "../testing/factories.ts";
import { newestStatus } from "./newest-status.ts";

describe("newestStatus", () => {
  it("keeps a newer snapshot when an older reply arrives after it", () => {
    const starting = makeStatus({ state: "starting", message: "Starting", revision: 4 });
    const upToDate = makeStatus({ state: "up-to-date", revision: 5 });
    expect(newestStatus(upToDate, starting)).toBe(upToDate);
    expect(newestStatus(starting, upToDate)).toBe(upToDate);
  });

  it("takes the first snapshot and an equal revision (the same moment seen twice)", () => {
    const a = makeStatus({ revision: 3 });
    const b = makeStatus({ revision: 3, message: "Up to date" });
    expect(newestStatus(null, a)).toBe(a);
    expect(newestStatus(a, b)).toBe(b);
  });

  it("a restarted agent's snapshots win over the old process's, whatever their counters", () => {
    const old = makeStatus({ startedAt: 1000, revision: 900 });
    const restarted = makeStatus({ startedAt: 2000, revision: 1 });
    expect(newestStatus(old, restarted)).toBe(restarted);
    expect(newestStatus(restarted, old)).toBe(restarted);
  });
});
