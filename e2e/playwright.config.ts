import { defineConfig } from "@playwright/test";

// Debian's Chromium, never a downloaded browser (`playwright install` needs hosts a
// mirror-only machine cannot reach). The flags keep Chromium from phoning home, which a
// closed network answers with a storm of refused connections.
export default defineConfig({
  testDir: "./specs",
  outputDir: "./.tmp/test-results",
  timeout: 180_000,
  expect: { timeout: 20_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [["list"], ["json"]],
  use: {
    browserName: "chromium",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
      ],
    },
    // Charts draw at once (the web app honours prefers-reduced-motion), so screenshots
    // show them finished rather than mid-animation.
    reducedMotion: "reduce",
    trace: "off",
    screenshot: "only-on-failure",
  },
});
