import { resolve } from "node:path";
import tailwindcss from "@tailwindcss/vite";
import react from "@vitejs/plugin-react";
import { defineConfig } from "electron-vite";

// Workspace packages export TypeScript source, which Electron's Node cannot load from
// node_modules, so they are bundled into main; real npm dependencies stay external.
const bundledWorkspace = ["@cumulus/protocol", "@cumulus/sync-agent", "zod"];

export default defineConfig({
  main: {
    build: {
      outDir: "out/main",
      externalizeDeps: { exclude: bundledWorkspace },
      rolldownOptions: { input: { index: resolve(import.meta.dirname, "src/main/index.ts") } },
    },
  },
  preload: {
    build: {
      outDir: "out/preload",
      // A sandboxed preload cannot be an ES module: one self-contained CommonJS file.
      externalizeDeps: false,
      rolldownOptions: {
        input: { index: resolve(import.meta.dirname, "src/preload/index.ts") },
        output: { format: "cjs", entryFileNames: "[name].cjs" },
      },
    },
  },
  renderer: {
    root: resolve(import.meta.dirname, "src/renderer"),
    plugins: [react(), tailwindcss()],
    build: {
      outDir: resolve(import.meta.dirname, "out/renderer"),
      // Served over loopback and loaded on every window open: smaller is faster to parse.
      minify: true,
      rolldownOptions: { input: resolve(import.meta.dirname, "src/renderer/index.html") },
    },
  },
});
