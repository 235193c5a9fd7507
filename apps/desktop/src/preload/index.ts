// Sandboxed preload: it may only use contextBridge and ipcRenderer, and exposes exactly the
// typed CumulusBridge, one invoke per channel. No Node or Electron object reaches the page.
import { contextBridge, ipcRenderer } from "electron";
import { IPC, type CumulusBridge } from "../shared/bridge.ts";

const bridge: CumulusBridge = {
  agent: () => ipcRenderer.invoke(IPC.agent),
  openFolder: () => ipcRenderer.invoke(IPC.openFolder),
  openWeb: () => ipcRenderer.invoke(IPC.openWeb),
  chooseFolder: () => ipcRenderer.invoke(IPC.chooseFolder),
  setStartAtLogin: (on: boolean) => ipcRenderer.invoke(IPC.setStartAtLogin, on === true),
  getStartAtLogin: () => ipcRenderer.invoke(IPC.getStartAtLogin),
  platform: process.platform,
};

contextBridge.exposeInMainWorld("cumulus", bridge);
