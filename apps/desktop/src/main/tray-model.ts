// What the tray shows for an agent status: icon, tooltip, menu. Pure, so every state is
// unit-tested without Electron; main.ts only turns the model into Electron objects.
import type { AgentState, AgentStatus } from "@cumulus/protocol/agent";
import { statusLine } from "../shared/status-line.ts";

export { statusLine };

export type TrayIcon = "ok" | "syncing" | "paused" | "attention" | "offline";
export type TrayAction = "open-window" | "open-folder" | "open-web" | "pause" | "resume" | "quit";
export type TrayMenuItem =
  | { kind: "label"; label: string }
  | { kind: "action"; action: TrayAction; label: string; enabled: boolean }
  | { kind: "separator" };
export type TrayModel = { icon: TrayIcon; tooltip: string; menu: TrayMenuItem[] };

const ICONS: Record<AgentState, TrayIcon> = {
  "signed-out": "attention",
  "no-folder": "attention",
  starting: "syncing",
  syncing: "syncing",
  "up-to-date": "ok",
  paused: "paused",
  offline: "offline",
  error: "attention",
};

export function trayModel(s: AgentStatus | null): TrayModel {
  const line = statusLine(s);
  const extra: string[] = [];
  if (s && s.errors > 0 && s.state !== "error") extra.push(`${s.errors} error${s.errors === 1 ? "" : "s"}`);
  if (s && s.conflicts > 0) extra.push(`${s.conflicts} conflicted cop${s.conflicts === 1 ? "y" : "ies"}`);
  const tooltip = `Cumulus — ${line}${extra.length ? ` · ${extra.join(" · ")}` : ""}`;
  const signedIn = !!s && s.state !== "signed-out";
  const canPause = !!s && ["syncing", "up-to-date", "offline", "starting", "error"].includes(s.state);
  const menu: TrayMenuItem[] = [
    { kind: "label", label: line },
    { kind: "separator" },
    { kind: "action", action: "open-window", label: "Open Cumulus", enabled: true },
    { kind: "action", action: "open-folder", label: "Open folder", enabled: !!s?.localDir },
    { kind: "action", action: "open-web", label: "Open in web", enabled: signedIn && !!s?.webUrl },
    s?.state === "paused"
      ? { kind: "action", action: "resume", label: "Resume syncing", enabled: true }
      : { kind: "action", action: "pause", label: "Pause syncing", enabled: canPause },
    { kind: "separator" },
    { kind: "action", action: "quit", label: "Quit Cumulus", enabled: true },
  ];
  return { icon: s ? ICONS[s.state] : "syncing", tooltip, menu };
}

const COLORS: Record<TrayIcon, [number, number, number]> = {
  ok: [34, 160, 90],
  syncing: [37, 99, 235],
  paused: [120, 120, 130],
  attention: [220, 60, 50],
  offline: [200, 150, 20],
};

/**
 * A 16×16 BGRA bitmap (nativeImage.createFromBitmap) of a round dot in the state's colour,
 * with a soft edge. Drawn in code so the build needs no image assets or converters.
 */
export function trayBitmap(icon: TrayIcon, size = 16): Buffer {
  const [r, g, b] = COLORS[icon];
  const buf = Buffer.alloc(size * size * 4);
  const c = (size - 1) / 2;
  const radius = size / 2 - 1;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const d = Math.hypot(x - c, y - c);
      const alpha = Math.max(0, Math.min(1, radius - d + 0.5));
      const i = (y * size + x) * 4;
      // Premultiplied BGRA, as Skia expects.
      buf[i] = Math.round(b * alpha);
      buf[i + 1] = Math.round(g * alpha);
      buf[i + 2] = Math.round(r * alpha);
      buf[i + 3] = Math.round(255 * alpha);
    }
  }
  return buf;
}
