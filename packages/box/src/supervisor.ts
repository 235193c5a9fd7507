import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import path from "node:path";
import { EventEmitter } from "node:events";
import { StringDecoder } from "node:string_decoder";
import { errorMessageOf, shorten } from "./child-error-line.ts";

export type Role = "control" | "worker" | "storage-node";

export type ChildSpec = {
  role: Role;
  name: string;
  site?: string;
  ports: Record<string, number>;
  command: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Control plane and worker come back by themselves; a storage node stays down like a failed server. */
  restart: boolean;
};

export type ChildState = {
  role: Role;
  name: string;
  site: string | null;
  pid: number | null;
  ports: Record<string, number>;
  status: "starting" | "running" | "exited" | "restarting" | "stopped";
  exit: { code: number | null; signal: string | null; at: string } | null;
  log: string;
};

/**
 * Runs one child process: output to its log file, restart with backoff when its spec
 * says so, and a graceful stop (SIGTERM, then SIGKILL after a deadline).
 */
export class SupervisedChild extends EventEmitter {
  readonly spec: ChildSpec;
  readonly logFile: string;
  private proc: ChildProcess | null = null;
  private stopping = false;
  private restarts = 0;
  private lastStart = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  state: ChildState;
  private out: WriteStream;
  private lineHandlers: ((line: string) => void)[] = [];
  /** The last error the running process logged: the box's crash report names it. */
  lastError: string | null = null;

  constructor(spec: ChildSpec, logDir: string) {
    super();
    this.spec = spec;
    mkdirSync(logDir, { recursive: true });
    this.logFile = path.join(logDir, `${spec.name}.log`);
    this.out = createWriteStream(this.logFile, { flags: "a" });
    this.state = {
      role: spec.role,
      name: spec.name,
      site: spec.site ?? null,
      pid: null,
      ports: spec.ports,
      status: "starting",
      exit: null,
      log: this.logFile,
    };
  }

  /** Called with each stdout line (used to notice "ready" lines). */
  onLine(handler: (line: string) => void): void {
    this.lineHandlers.push(handler);
  }

  start(): void {
    this.stopping = false;
    this.lastStart = Date.now();
    const proc = spawn(this.spec.command, this.spec.args, {
      cwd: this.spec.cwd,
      env: this.spec.env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.proc = proc;
    this.state = { ...this.state, pid: proc.pid ?? null, status: "running", exit: null };
    this.lastError = null;
    // Into the log as it comes; line by line to notice "ready" lines and errors.
    const follow = (stream: NodeJS.ReadableStream | null, onLine: (line: string) => void) => {
      let buf = "";
      // A chunk may end inside a multi-byte character: the decoder holds it for the next.
      const utf8 = new StringDecoder("utf8");
      stream?.on("data", (d: Buffer) => {
        this.out.write(d);
        buf += utf8.write(d);
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          onLine(line);
        }
      });
    };
    follow(proc.stdout, (line) => {
      this.noteError(line, "stdout");
      for (const h of this.lineHandlers) h(line);
    });
    follow(proc.stderr, (line) => this.noteError(line, "stderr"));
    proc.on("error", (err) => {
      this.out.write(`[box] failed to start: ${err.message}\n`);
    });
    proc.on("exit", (code, signal) => {
      if (this.proc !== proc) return;
      this.proc = null;
      const exit = { code, signal, at: new Date().toISOString() };
      this.out.write(`[box] exited code=${code} signal=${signal}\n`);
      if (this.stopping) {
        this.state = { ...this.state, pid: null, status: "stopped", exit };
        this.emit("stopped");
        return;
      }
      this.state = { ...this.state, pid: null, status: this.spec.restart ? "restarting" : "exited", exit };
      this.emit("change");
      // The reason a child died is usually its last line, which can reach us after "exit":
      // report once its output is drained (or after a moment, if a grandchild holds it open).
      void outputDrained(proc, 500).then(() => this.crashed(exit));
    });
    this.emit("change");
  }

  private crashed(exit: NonNullable<ChildState["exit"]>): void {
    // Stopped, or started again by hand, while the output drained: nothing to report.
    if (this.stopping || this.proc !== null) return;
    if (this.spec.restart) {
      // Back off when a child keeps dying right after start, so a crash loop does not spin.
      if (Date.now() - this.lastStart > 30_000) this.restarts = 0;
      const delay = Math.min(10_000, 250 * 2 ** this.restarts++);
      this.emit("crashed", exit, delay);
      this.restartTimer = setTimeout(() => {
        this.restartTimer = null;
        if (!this.stopping) this.start();
      }, delay);
    } else {
      this.emit("crashed", exit, null);
    }
  }

  private noteError(line: string, stream: "stdout" | "stderr"): void {
    const message = errorMessageOf(line, stream);
    if (message) this.lastError = shorten(message);
  }

  get running(): boolean {
    return this.proc !== null;
  }

  async stop(deadlineMs = 10_000): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const proc = this.proc;
    if (!proc) {
      this.state = { ...this.state, status: this.state.status === "exited" ? "exited" : "stopped" };
      return;
    }
    const done = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), deadlineMs);
    await done;
    clearTimeout(timer);
  }

  closeLog(): Promise<void> {
    return new Promise((resolve) => this.out.end(resolve));
  }
}

/** Resolves on the child's "close" (its stdout and stderr are done), or after `maxMs`. */
function outputDrained(proc: ChildProcess, maxMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, maxMs);
    // "close" always follows "exit", so listening from the exit handler cannot miss it.
    proc.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
