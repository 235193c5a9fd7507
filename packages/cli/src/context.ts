import os from "node:os";
import { CumulusClient } from "@cumulus/client/client";
import type { FetchFn } from "@cumulus/client/http";
import { AppError } from "@cumulus/protocol/errors";
import { configDir, loadConfig, resolveSession, type Session, type StoredConfig } from "./config.ts";

export interface OutStream {
  write(s: string): unknown;
  isTTY?: boolean;
}

/** Everything the CLI touches outside itself, so tests can run it in-process. */
export interface CliIO {
  stdout: OutStream;
  stderr: OutStream;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  env: NodeJS.ProcessEnv;
  /** Registers a Ctrl-C handler for the duration of a transfer; returns the unregister. */
  onInterrupt(handler: () => void): () => void;
  fetch?: FetchFn;
}

export interface GlobalOpts {
  server?: string;
  site?: string;
  json?: boolean;
  /** Chunk transport to storage nodes (put/get): udt, http or auto (default: CUMULUS_TRANSPORT, then http). */
  transport?: "udt" | "http" | "auto";
}

/** --transport / CUMULUS_TRANSPORT, checked. */
export function transportOf(opts: GlobalOpts, env: NodeJS.ProcessEnv): "udt" | "http" | "auto" {
  const v = opts.transport ?? (env.CUMULUS_TRANSPORT || "http");
  if (v !== "udt" && v !== "http" && v !== "auto") {
    throw new AppError("BAD_REQUEST", `--transport must be udt, http or auto, not ${JSON.stringify(v)}`);
  }
  return v;
}

/** Ctrl-C during a transfer: exit 130, and `put` says how to resume. */
export class Interrupted extends Error {
  constructor(message = "interrupted") {
    super(message);
    this.name = "Interrupted";
  }
}

export class Ctx {
  readonly io: CliIO;
  readonly configDir: string;
  private cfg: StoredConfig | null = null;
  private home: string | null = null;

  constructor(io: CliIO) {
    this.io = io;
    this.configDir = configDir(io.env);
  }

  async config(): Promise<StoredConfig> {
    this.cfg ??= await loadConfig(this.configDir);
    return this.cfg;
  }

  async session(opts: GlobalOpts): Promise<Session> {
    return resolveSession(opts, this.io.env, await this.config());
  }

  /** A client for a server without credentials (login). */
  anonymousClient(server: string, site: string | null): CumulusClient {
    return new CumulusClient({ server, site, ...(this.io.fetch ? { fetch: this.io.fetch } : {}) });
  }

  /** A client with the stored or given credentials; fails with a hint when there are none. */
  async client(opts: GlobalOpts): Promise<CumulusClient> {
    const s = await this.session(opts);
    if (!s.server || !s.token) {
      throw new AppError(
        "UNAUTHENTICATED",
        "not logged in: run `cumulus login --server URL --email EMAIL` (or set CUMULUS_SERVER and CUMULUS_TOKEN)",
      );
    }
    return new CumulusClient({
      server: s.server,
      token: s.token,
      site: s.site,
      ...(this.io.fetch ? { fetch: this.io.fetch } : {}),
    });
  }

  /**
   * Remote paths are absolute; a relative one is taken relative to the user's home folder.
   * No "." / ".." arithmetic happens here: such a path reaches the server, which refuses it.
   */
  async remotePath(client: CumulusClient, p: string): Promise<string> {
    if (p.startsWith("/")) return p;
    this.home ??= (await client.whoami()).home;
    return p === "" ? this.home : `${this.home.replace(/\/+$/, "")}/${p}`;
  }

  deviceName(): string {
    return (this.io.env.CUMULUS_DEVICE_NAME || os.hostname() || "cumulus-cli").slice(0, 100);
  }

  out(text: string): void {
    if (text !== "") this.io.stdout.write(text.endsWith("\n") ? text : text + "\n");
  }

  /** The one JSON document a --json command prints. */
  json(value: unknown): void {
    this.io.stdout.write(JSON.stringify(value, null, 2) + "\n");
  }

  /** Progress bars only for a human at a terminal. */
  interactive(opts: GlobalOpts): boolean {
    return !opts.json && this.io.stdout.isTTY === true && this.io.stderr.isTTY === true && !this.io.env.CI;
  }
}
