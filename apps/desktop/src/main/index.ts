// The Electron shell: wires the agent host, window, tray, notifications and login item
// together. Decisions live in the pure modules beside this file (tray-model, notifications,
// desktop-prefs, agent-host, app-protocol), which are unit-tested without Electron; this
// file only translates them into Electron calls and cannot run without the Electron binary.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import {
  BrowserWindow,
  Menu,
  Notification,
  Tray,
  app,
  dialog,
  ipcMain,
  nativeImage,
  protocol,
  session,
  shell,
  type IpcMainInvokeEvent,
  type MenuItemConstructorOptions,
} from "electron";
import type { AgentStatus } from "@cumulus/protocol/agent";
import { createAgentClient, type AgentClient, type AgentConnection } from "../shared/agent-client.ts";
import { IPC } from "../shared/bridge.ts";
import { startAgentHost, type AgentHost } from "./agent-host.ts";
import { APP_ORIGIN, APP_SCHEME, contentType, forwardHeaders, routeAppRequest } from "./app-protocol.ts";
import {
  loadPrefs,
  loginItemSettings,
  safeWebUrl,
  savePrefs,
  startHidden,
  type DesktopPrefs,
} from "./desktop-prefs.ts";
import { env } from "./env.ts";
import { needsErrorDetails, notificationsFor } from "./notifications.ts";
import { trayBitmap, trayModel, type TrayAction, type TrayIcon } from "./tray-model.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
const rendererDir = path.join(here, "../renderer");
const preloadFile = path.join(here, "../preload/index.cjs");

let win: BrowserWindow | null = null;
let tray: Tray | null = null;
let host: AgentHost | null = null;
/** Settles once the agent runs (or could not be started); the window does not wait for it. */
let hostReady: Promise<AgentHost | null> = new Promise(() => {});
let hostProblem: string | null = null;
let client: AgentClient | null = null;
let status: AgentStatus | null = null;
let prefs: DesktopPrefs;
let prefsFile: string;
let quitting = false;
const icons = new Map<TrayIcon, Electron.NativeImage>();
// Until "ready" there is no userData path: log to stdout, then to a file a person can send us.
let log = pino({ base: { svc: "desktop" } });

app.enableSandbox();
// Must happen before "ready": a standard, secure scheme gets a real origin, fetch and CSP 'self'.
protocol.registerSchemesAsPrivileged([
  { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, stream: true } },
]);
if (!app.requestSingleInstanceLock()) app.quit();
app.on("second-instance", () => {
  if (app.isReady()) showWindow();
});

function rendererUrl(): string {
  return env.ELECTRON_RENDERER_URL ?? `${APP_ORIGIN}/`;
}

/** Prefix of every URL the window may show. (URL.origin is "null" for custom schemes.) */
function pagePrefix(): string {
  return env.ELECTRON_RENDERER_URL ? `${new URL(env.ELECTRON_RENDERER_URL).origin}/` : `${APP_ORIGIN}/`;
}

function trustedSender(e: IpcMainInvokeEvent): boolean {
  const url = e.senderFrame?.url ?? "";
  return url.startsWith(pagePrefix());
}

const json = (status: number, code: string, message: string) =>
  new Response(JSON.stringify({ error: { code, message } }), {
    status,
    headers: { "content-type": "application/json" },
  });

/** Serves cumulus://app: the renderer's files, and /api/* forwarded to the agent. */
async function serveApp(req: Request): Promise<Response> {
  const route = routeAppRequest(req.url, rendererDir, host?.connection.baseUrl ?? null);
  switch (route.kind) {
    case "file":
      try {
        return new Response(await readFile(route.file), { headers: { "content-type": contentType(route.file) } });
      } catch {
        return new Response("not found", { status: 404 });
      }
    case "api":
      try {
        // Node's fetch streams the body through, so the event stream stays live.
        return await fetch(route.target, {
          method: req.method,
          headers: forwardHeaders(req.headers),
          body: req.method === "GET" || req.method === "HEAD" ? undefined : await req.arrayBuffer(),
          // Closing the page must close the agent's event stream too.
          signal: req.signal,
        });
      } catch (err) {
        return json(502, "UNREACHABLE", `the sync agent does not answer: ${(err as Error).message}`);
      }
    case "unavailable":
      return json(503, "AGENT_UNAVAILABLE", hostProblem ?? "the sync agent is still starting");
    case "not-found":
      return new Response("not found", { status: 404 });
  }
}

function handle<T>(channel: string, fn: (e: IpcMainInvokeEvent, ...args: unknown[]) => Promise<T> | T) {
  ipcMain.handle(channel, (e, ...args) => {
    if (!trustedSender(e)) throw new Error(`refused ${channel} from ${e.senderFrame?.url ?? "an unknown frame"}`);
    return fn(e, ...args);
  });
}

function showWindow() {
  if (!win || win.isDestroyed()) createWindow();
  win?.show();
  win?.focus();
}

function createWindow() {
  win = new BrowserWindow({
    ...prefs.window,
    minWidth: 360,
    minHeight: 480,
    show: false,
    title: "Cumulus",
    autoHideMenuBar: true,
    webPreferences: {
      preload: preloadFile,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
    },
  });
  win.webContents.setWindowOpenHandler(({ url }) => {
    const safe = safeWebUrl(url);
    if (safe) void shell.openExternal(safe);
    return { action: "deny" };
  });
  win.webContents.on("will-navigate", (e, url) => {
    if (!url.startsWith(pagePrefix())) e.preventDefault();
  });
  win.once("ready-to-show", () => win?.show());
  win.on("close", (e) => {
    // A tray app keeps syncing with its window closed; Quit lives in the tray menu.
    if (!quitting) {
      e.preventDefault();
      win?.hide();
    }
    const b = win?.getBounds();
    if (b) {
      prefs = { ...prefs, window: { width: b.width, height: b.height, x: b.x, y: b.y } };
      void savePrefs(prefsFile, prefs).catch((err: unknown) => log.warn({ err }, "cannot save the window size"));
    }
  });
  void win.loadURL(rendererUrl());
}

function icon(name: TrayIcon) {
  let img = icons.get(name);
  if (!img) {
    img = nativeImage.createFromBitmap(trayBitmap(name), { width: 16, height: 16 });
    icons.set(name, img);
  }
  return img;
}

async function runAction(action: TrayAction) {
  switch (action) {
    case "open-window":
      return showWindow();
    case "open-folder":
      return void (await openFolder());
    case "open-web":
      return void (await openWeb());
    case "pause":
      return void (await client?.pause().catch(report));
    case "resume":
      return void (await client?.resume().catch(report));
    case "quit":
      quitting = true;
      return app.quit();
  }
}

let shownTray = "";
function renderTray() {
  if (!tray) return;
  const model = trayModel(status);
  // Progress events arrive many times a second; rebuild the menu only when it changes.
  const key = JSON.stringify([model, hostProblem]);
  if (key === shownTray) return;
  shownTray = key;
  tray.setImage(icon(model.icon));
  tray.setToolTip(hostProblem ? `Cumulus — ${hostProblem}` : model.tooltip);
  const template: MenuItemConstructorOptions[] = model.menu.map((item) =>
    item.kind === "separator"
      ? { type: "separator" }
      : item.kind === "label"
        ? { label: item.label, enabled: false }
        : { label: item.label, enabled: item.enabled, click: () => void runAction(item.action) },
  );
  tray.setContextMenu(Menu.buildFromTemplate(template));
}

function report(err: unknown) {
  log.error({ err }, "desktop action failed");
}

async function onStatus(next: AgentStatus) {
  const prev = status;
  status = next;
  renderTray();
  // Most status events (progress while syncing) notify nothing: ask the agent for settings
  // and error details only when there is news.
  if (!notificationsFor(prev, next, { enabled: true }).length) return;
  if (!Notification.isSupported() || !client) return;
  try {
    const settings = await client.settings();
    const errors = needsErrorDetails(prev, next) || next.state === "error" ? await client.errors() : [];
    for (const n of notificationsFor(prev, next, { enabled: settings.notifications, errors })) {
      const note = new Notification({ title: n.title, body: n.body });
      note.on("click", () => (n.kind === "conflict" ? void openFolder() : showWindow()));
      note.show();
    }
  } catch (err) {
    report(err);
  }
}

async function openFolder(): Promise<string | null> {
  const dir = status?.localDir;
  if (!dir || !path.isAbsolute(dir)) return "No folder is being synced yet.";
  const problem = await shell.openPath(dir);
  return problem || null;
}

async function openWeb(): Promise<string | null> {
  const url = safeWebUrl(status?.webUrl ?? status?.server);
  if (!url) return "Sign in first: there is no web address for this account yet.";
  await shell.openExternal(url);
  return null;
}

function registerIpc() {
  handle(IPC.agent, async (): Promise<AgentConnection> => {
    const ready = await hostReady;
    if (!ready) throw new Error(hostProblem ?? "the sync agent could not be started");
    // "" = the page's own origin, which serveApp forwards to the agent. A dev server page
    // (electron-vite dev) talks to the agent directly instead.
    return { baseUrl: env.ELECTRON_RENDERER_URL ? ready.connection.baseUrl : "", secret: ready.connection.secret };
  });
  handle(IPC.openFolder, () => openFolder());
  handle(IPC.openWeb, () => openWeb());
  handle(IPC.chooseFolder, async () => {
    const opts = {
      title: "Choose the folder to keep in sync",
      properties: ["openDirectory", "createDirectory"] as const,
    };
    const r = win
      ? await dialog.showOpenDialog(win, { ...opts, properties: [...opts.properties] })
      : await dialog.showOpenDialog({ ...opts, properties: [...opts.properties] });
    return r.canceled ? null : (r.filePaths[0] ?? null);
  });
  handle(IPC.getStartAtLogin, () => prefs.startAtLogin);
  handle(IPC.setStartAtLogin, async (_e, on) => {
    if (typeof on !== "boolean") throw new Error("setStartAtLogin takes true or false");
    prefs = { ...prefs, startAtLogin: on };
    app.setLoginItemSettings(loginItemSettings(prefs));
    await savePrefs(prefsFile, prefs);
    return prefs.startAtLogin;
  });
}

app.on("before-quit", () => {
  quitting = true;
});
app.on("will-quit", (e) => {
  if (host) {
    // Let the agent finish its current write and persist its state before exiting.
    e.preventDefault();
    const h = host;
    host = null;
    // A stuck agent must not keep the app from quitting; its state is crash-safe anyway.
    const cap = new Promise<void>((r) => setTimeout(r, 10_000).unref());
    void Promise.race([h.stop(), cap])
      .catch((err: unknown) => log.error({ err }, "the agent did not stop cleanly"))
      .finally(() => app.exit(0));
  }
});
// Closing the window does not quit: the tray keeps the app alive.
app.on("window-all-closed", () => {});

void app.whenReady().then(async () => {
  const logFile = path.join(app.getPath("logs"), "desktop.log");
  log = pino({ base: { svc: "desktop" } }, pino.destination({ dest: logFile, mkdir: true, sync: false }));
  prefsFile = path.join(app.getPath("userData"), "desktop.json");
  const loaded = await loadPrefs(prefsFile);
  prefs = loaded.prefs;
  if (loaded.problem) log.warn(loaded.problem);
  app.setLoginItemSettings(loginItemSettings(prefs));
  registerIpc();
  protocol.handle(APP_SCHEME, serveApp);
  // The window needs no camera, microphone, notifications API or geolocation.
  session.defaultSession.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));

  tray = new Tray(icon("syncing"));
  tray.on("click", () => showWindow());
  renderTray();

  const stateDir = env.CUMULUS_AGENT_DIR ?? path.join(app.getPath("userData"), "agent");
  hostReady = startAgentHost({ stateDir, uiDir: rendererDir }).then(
    (h) => {
      host = h;
      log.info({ kind: h.kind, stateDir }, "sync agent ready");
      client = createAgentClient(h.connection);
      client.subscribe((s) => void onStatus(s));
      return h;
    },
    (err: unknown) => {
      hostProblem = (err as Error).message;
      log.error({ err, stateDir }, "cannot start or find the sync agent");
      renderTray();
      return null;
    },
  );

  // The window opens at once and shows a spinner until the agent answers.
  const login = app.getLoginItemSettings();
  if (!startHidden(process.argv, login.wasOpenedAtLogin === true, prefs)) showWindow();
});
