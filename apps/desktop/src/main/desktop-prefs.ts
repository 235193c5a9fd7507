// The desktop shell's own preferences (window size, login item), kept beside — not inside —
// the agent's settings, which belong to the agent and travel through its API. Loading never
// throws: a missing or damaged file gives the defaults plus a note for the log, because a
// bad preferences file must not keep the app from starting. Saving is atomic.
import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";

export const ZDesktopPrefs = z.object({
  window: z
    .object({
      width: z.number().int().min(320).max(10_000),
      height: z.number().int().min(400).max(10_000),
      x: z.number().int().optional(),
      y: z.number().int().optional(),
    })
    .default({ width: 420, height: 640 }),
  startAtLogin: z.boolean().default(false),
  /** When launched at login, stay in the tray instead of opening the window. */
  hiddenAtLogin: z.boolean().default(true),
});
export type DesktopPrefs = z.infer<typeof ZDesktopPrefs>;

export const defaultPrefs = (): DesktopPrefs => ZDesktopPrefs.parse({});

export async function loadPrefs(file: string): Promise<{ prefs: DesktopPrefs; problem?: string }> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { prefs: defaultPrefs() };
    return { prefs: defaultPrefs(), problem: `cannot read ${file}: ${(err as Error).message}; using defaults` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { prefs: defaultPrefs(), problem: `${file} is not valid JSON; using defaults` };
  }
  const parsed = ZDesktopPrefs.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { prefs: defaultPrefs(), problem: `${file}: ${issue?.path.join(".")} ${issue?.message}; using defaults` };
  }
  return { prefs: parsed.data };
}

/** Validates, then writes through a temp file and rename so a crash never leaves half a file. */
export async function savePrefs(file: string, prefs: DesktopPrefs): Promise<void> {
  const valid = ZDesktopPrefs.parse(prefs);
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(valid, null, 2) + "\n", { mode: 0o600 });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export const HIDDEN_ARG = "--hidden";

/** Arguments for app.setLoginItemSettings. */
export function loginItemSettings(prefs: DesktopPrefs): {
  openAtLogin: boolean;
  openAsHidden: boolean;
  args: string[];
} {
  return {
    openAtLogin: prefs.startAtLogin,
    // macOS honours openAsHidden; Windows and Linux get the flag on the command line.
    openAsHidden: prefs.startAtLogin && prefs.hiddenAtLogin,
    args: prefs.startAtLogin && prefs.hiddenAtLogin ? [HIDDEN_ARG] : [],
  };
}

/**
 * Whether to keep the window closed at launch: started by the login item (the flag on
 * Windows/Linux, wasOpenedAtLogin on macOS) and the person asked for a quiet start.
 */
export function startHidden(argv: readonly string[], openedAtLogin: boolean, prefs: DesktopPrefs): boolean {
  return argv.includes(HIDDEN_ARG) || (openedAtLogin && prefs.startAtLogin && prefs.hiddenAtLogin);
}

/** Only web pages may be opened in the browser from the tray: never file: or custom schemes. */
export function safeWebUrl(url: string | null | undefined): string | null {
  if (!url) return null;
  try {
    const u = new URL(url);
    return u.protocol === "https:" || u.protocol === "http:" ? u.toString() : null;
  } catch {
    return null;
  }
}
