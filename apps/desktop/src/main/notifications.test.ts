import { describe, expect, it } from "vitest";
import { makeStatus } from "../testing/factories.ts";
import { needsErrorDetails, notificationsFor } from "./notifications.ts";

const on = { enabled: true };

describe("notificationsFor", () => {
  it("stays quiet on the first status even with old conflicts", () => {
    expect(notificationsFor(null, makeStatus({ conflicts: 4 }), on)).toEqual([]);
  });

  it("gives one notification for a burst of new conflicts", () => {
    const n = notificationsFor(makeStatus({ conflicts: 1 }), makeStatus({ conflicts: 4 }), on);
    expect(n).toEqual([
      {
        kind: "conflict",
        title: "3 files were edited in two places",
        body: 'Both versions were kept: look for "conflicted copy" in /home/ada/Cumulus.',
      },
    ]);
  });

  it("shows the newest error with its fix when the error count rises", () => {
    const errors = [
      { at: 1, path: "/old.txt", code: "NETWORK", message: "old", fix: "wait", retrying: true },
      {
        at: 5,
        path: "/a/report.docx",
        code: "PERMISSION_DENIED",
        message: "Permission denied",
        fix: "Make the file writable.",
        retrying: true,
      },
    ];
    const prev = makeStatus({ errors: 1 });
    const next = makeStatus({ errors: 2 });
    expect(needsErrorDetails(prev, next)).toBe(true);
    expect(notificationsFor(prev, next, { enabled: true, errors })).toEqual([
      { kind: "error", title: "Cannot sync /a/report.docx", body: "Permission denied. Make the file writable." },
    ]);
  });

  it("notifies entering the error state once, with the status message when no details are known", () => {
    const prev = makeStatus({ state: "syncing" });
    const next = makeStatus({ state: "error", message: "The server refused this device: sign in again" });
    expect(notificationsFor(prev, next, on)).toEqual([
      { kind: "error", title: "Sync problem", body: "The server refused this device: sign in again" },
    ]);
    expect(notificationsFor(next, next, on)).toEqual([]);
  });

  it("does not notify when errors go away or nothing changed", () => {
    expect(needsErrorDetails(makeStatus({ errors: 2 }), makeStatus({ errors: 1 }))).toBe(false);
    expect(notificationsFor(makeStatus({ errors: 2 }), makeStatus({ errors: 1 }), on)).toEqual([]);
    expect(notificationsFor(makeStatus(), makeStatus({ cursor: 9 }), on)).toEqual([]);
  });

  it("tells the person when the device was signed out", () => {
    const n = notificationsFor(makeStatus(), makeStatus({ state: "signed-out" }), on);
    expect(n.map((x) => x.kind)).toEqual(["signed-out"]);
  });

  it("shows nothing when notifications are off", () => {
    expect(
      notificationsFor(makeStatus({ conflicts: 0 }), makeStatus({ conflicts: 2, state: "error" }), { enabled: false }),
    ).toEqual([]);
  });
});
