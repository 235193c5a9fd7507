// The only place the desktop main process reads the environment.
import { z } from "zod";

const ZEnv = z.object({
  /** Where the agent keeps its database and agent.json; defaults under the app's userData. */
  CUMULUS_AGENT_DIR: z.string().min(1).optional(),
  /** Load the renderer from a dev server (electron-vite dev) instead of out/renderer. */
  ELECTRON_RENDERER_URL: z.url().optional(),
});

export const env = ZEnv.parse(process.env);
