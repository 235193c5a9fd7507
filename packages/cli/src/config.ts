import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { AppError } from "@cumulus/protocol/errors";

/** What `cumulus login` remembers. The token is a credential: the file is 0600. */
export interface StoredConfig {
  server?: string;
  token?: string;
  email?: string;
  site?: string;
}

export function configDir(env: NodeJS.ProcessEnv): string {
  if (env.CUMULUS_CONFIG_DIR) return path.resolve(env.CUMULUS_CONFIG_DIR);
  const base = env.XDG_CONFIG_HOME ? path.resolve(env.XDG_CONFIG_HOME) : path.join(env.HOME ?? os.homedir(), ".config");
  return path.join(base, "cumulus");
}

export function configFile(dir: string): string {
  return path.join(dir, "config.json");
}

export async function loadConfig(dir: string): Promise<StoredConfig> {
  const file = configFile(dir);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw new AppError("BAD_REQUEST", `cannot read ${file}: ${(err as Error).message}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new AppError("BAD_REQUEST", `${file} is not valid JSON: fix it or delete it and log in again`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new AppError("BAD_REQUEST", `${file} must hold a JSON object: fix it or delete it and log in again`);
  }
  const o = v as Record<string, unknown>;
  const out: StoredConfig = {};
  for (const k of ["server", "token", "email", "site"] as const) {
    if (typeof o[k] === "string" && o[k]) out[k] = o[k];
  }
  return out;
}

/** Atomic (temp file + rename) and private: 0700 directory, 0600 file. */
export async function saveConfig(dir: string, cfg: StoredConfig): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = configFile(dir);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(cfg, null, 2) + "\n", { mode: 0o600 });
  // writeFile's mode is only applied on creation (and through the umask).
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}

export interface Session {
  server: string | null;
  token: string | null;
  site: string | null;
  email: string | null;
}

/**
 * Flags beat environment beat the config file. The stored token is only used for the
 * server it was issued by: pointing the CLI at another server must not send it there.
 */
export function resolveSession(
  flags: { server?: string; site?: string },
  env: NodeJS.ProcessEnv,
  cfg: StoredConfig,
): Session {
  const server = flags.server || env.CUMULUS_SERVER || cfg.server || null;
  const sameServer = server !== null && cfg.server !== undefined && sameOrigin(server, cfg.server);
  const token = env.CUMULUS_TOKEN || (sameServer ? cfg.token : undefined) || null;
  const site = flags.site || env.CUMULUS_SITE || cfg.site || null;
  return { server, token, site, email: sameServer ? (cfg.email ?? null) : null };
}

function sameOrigin(a: string, b: string): boolean {
  try {
    const ua = new URL(a);
    const ub = new URL(b);
    return ua.origin === ub.origin && ua.pathname.replace(/\/+$/, "") === ub.pathname.replace(/\/+$/, "");
  } catch {
    return a === b;
  }
}
