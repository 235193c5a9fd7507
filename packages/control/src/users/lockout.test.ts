import { describe, expect, it } from "vitest";
import { LOCKOUT_MAX_FAILURES, LOCKOUT_WINDOW_MS, lockoutMessage, lockoutState } from "./lockout.ts";

const MIN = 60_000;
const t0 = new Date("2030-01-01T12:00:00Z");
const at = (minutes: number) => new Date(t0.getTime() + minutes * MIN);

describe("lockoutState", () => {
  it("is unlocked below the threshold", () => {
    const s = lockoutState([at(0), at(1), at(2), at(3)], at(4));
    expect(s).toEqual({ locked: false, failures: 4, until: null });
  });

  it(`locks at ${LOCKOUT_MAX_FAILURES} failures within the window, until the oldest of them is ${LOCKOUT_WINDOW_MS / MIN} minutes old`, () => {
    const fails = [at(0), at(1), at(2), at(3), at(4)];
    const s = lockoutState(fails, at(5));
    expect(s.locked).toBe(true);
    expect(s.until).toEqual(at(15));
    expect(lockoutMessage(s, at(5))).toBe("Too many attempts: try again in 10 minutes");
    expect(lockoutMessage(s, at(14.5))).toBe("Too many attempts: try again in 1 minute");
    expect(lockoutState(fails, at(14.99)).locked).toBe(true);
    // At 15 min the first failure leaves the window: 4 remain, unlocked.
    expect(lockoutState(fails, at(15))).toMatchObject({ locked: false, failures: 4 });
  });

  it("uses the five most recent failures when there are more", () => {
    const fails = [at(0), at(1), at(2), at(3), at(4), at(10), at(11)];
    // Most recent five: 2, 3, 4, 10, 11 → locked until 2 + 15 = 17.
    expect(lockoutState(fails, at(12)).until).toEqual(at(17));
  });

  it("ignores failures outside the window and before the last reset (successful sign-in, password reset, unlock)", () => {
    const fails = [at(0), at(1), at(2), at(3), at(4)];
    expect(lockoutState(fails, at(20)).locked).toBe(false);
    expect(lockoutState(fails, at(5), { since: at(2.5) })).toMatchObject({ locked: false, failures: 2 });
  });

  it("accepts failures slightly in the future (database and process clocks differ)", () => {
    const fails = [at(0), at(1), at(2), at(3), at(5.01)];
    expect(lockoutState(fails, at(5)).locked).toBe(true);
  });

  it("honours custom thresholds", () => {
    expect(lockoutState([at(0), at(1)], at(2), { max: 2, windowMs: 5 * MIN })).toMatchObject({
      locked: true,
      until: at(5),
    });
  });
});
