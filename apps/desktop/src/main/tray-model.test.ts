import { ZAgentState } from "@cumulus/protocol/agent";
import { describe, expect, it } from "vitest";
import { makeStatus } from "../testing/factories.ts";
import { trayBitmap, trayModel, type TrayMenuItem } from "./tray-model.ts";

const action = (menu: TrayMenuItem[], name: string) => menu.find((m) => m.kind === "action" && m.action === name);

describe("trayModel", () => {
  it("has an icon, a tooltip and a Quit entry for every agent state", () => {
    for (const state of ZAgentState.options) {
      const m = trayModel(makeStatus({ state }));
      expect(m.tooltip).toMatch(/^Cumulus — \S/);
      expect(action(m.menu, "quit")).toMatchObject({ enabled: true });
    }
  });

  it("shows the count and percentage while syncing", () => {
    const m = trayModel(makeStatus({ state: "syncing" }, { filesPending: 3, bytesTotal: 400, bytesDone: 100 }));
    expect(m.icon).toBe("syncing");
    expect(m.tooltip).toBe("Cumulus — Syncing 3 files (25%)");
    expect(m.menu[0]).toEqual({ kind: "label", label: "Syncing 3 files (25%)" });
  });

  it("offers Resume instead of Pause when paused, and Pause otherwise", () => {
    const paused = trayModel(makeStatus({ state: "paused" }));
    expect(paused.icon).toBe("paused");
    expect(action(paused.menu, "resume")).toMatchObject({ enabled: true });
    expect(action(paused.menu, "pause")).toBeUndefined();
    const ok = trayModel(makeStatus({ state: "up-to-date" }));
    expect(ok.icon).toBe("ok");
    expect(action(ok.menu, "pause")).toMatchObject({ enabled: true });
  });

  it("disables folder and web entries that have nowhere to go", () => {
    const m = trayModel(makeStatus({ state: "signed-out", localDir: null, webUrl: null, user: null }));
    expect(m.icon).toBe("attention");
    expect(action(m.menu, "open-folder")).toMatchObject({ enabled: false });
    expect(action(m.menu, "open-web")).toMatchObject({ enabled: false });
    expect(action(m.menu, "pause")).toMatchObject({ enabled: false });
  });

  it("mentions errors and conflicts in the tooltip, and the error message when in error", () => {
    expect(trayModel(makeStatus({ errors: 2, conflicts: 1 })).tooltip).toBe(
      "Cumulus — Up to date · 2 errors · 1 conflicted copy",
    );
    const err = trayModel(makeStatus({ state: "error", errors: 1, message: "Disk full: free space on /home" }));
    expect(err.tooltip).toBe("Cumulus — Disk full: free space on /home");
  });

  it("says the agent is starting before the first status arrives", () => {
    const m = trayModel(null);
    expect(m.tooltip).toBe("Cumulus — Starting the sync agent…");
    expect(action(m.menu, "open-window")).toMatchObject({ enabled: true });
  });
});

describe("trayBitmap", () => {
  it("is a 16×16 BGRA dot: opaque state colour in the middle, transparent corners", () => {
    const bmp = trayBitmap("attention");
    expect(bmp.length).toBe(16 * 16 * 4);
    const px = (x: number, y: number) => [...bmp.subarray((y * 16 + x) * 4, (y * 16 + x) * 4 + 4)];
    expect(px(8, 8)).toEqual([50, 60, 220, 255]);
    expect(px(0, 0)[3]).toBe(0);
    expect(trayBitmap("ok")).not.toEqual(bmp);
  });
});
