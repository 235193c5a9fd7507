// CPU profile of a running Node process we did not start with --cpu-prof (a storage node
// under the box, which gives its children a clean environment): SIGUSR1 opens its
// inspector on 127.0.0.1:9229, the Profiler domain records while `fn` runs, then the
// inspector is closed again.
import { writeFile } from "node:fs/promises";
import { sleep } from "./harness.ts";

const INSPECTOR = "http://127.0.0.1:9229";

interface Target {
  webSocketDebuggerUrl: string;
}

class Session {
  private readonly ws: WebSocket;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.addEventListener("message", (ev) => {
      const msg = JSON.parse(String(ev.data)) as { id?: number; result?: unknown; error?: { message: string } };
      if (msg.id === undefined) return;
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new Error(msg.error.message));
      else p.resolve(msg.result);
    });
    ws.addEventListener("close", () => {
      for (const p of this.pending.values()) p.reject(new Error("inspector connection closed"));
      this.pending.clear();
    });
  }

  static open(url: string): Promise<Session> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.addEventListener("open", () => resolve(new Session(ws)), { once: true });
      ws.addEventListener("error", () => reject(new Error(`cannot connect to ${url}`)), { once: true });
    });
  }

  send<T = unknown>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.ws.close();
  }
}

/** Connects to the inspector of `pid` (opening it with SIGUSR1); null if that did not work. */
async function attach(pid: number): Promise<Session | null> {
  process.kill(pid, "SIGUSR1");
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    try {
      const targets = (await (await fetch(`${INSPECTOR}/json/list`)).json()) as Target[];
      for (const t of targets) {
        const s = await Session.open(t.webSocketDebuggerUrl).catch(() => null);
        if (!s) continue;
        const r = await s.send<{ result: { value: unknown } }>("Runtime.evaluate", { expression: "process.pid" });
        if (r.result.value === pid) return s;
        s.close();
      }
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  return null;
}

/**
 * Runs `fn` while `pid` is being profiled and writes the profile to `outFile`
 * (`.cpuprofile`, readable by Chrome DevTools and bench/lib/cpuprofile.ts). Profiling
 * problems (port 9229 taken, …) are reported through `onProblem`; `fn` runs regardless.
 */
export async function profileWhile<T>(
  pid: number,
  outFile: string,
  fn: () => Promise<T>,
  onProblem: (msg: string) => void,
): Promise<T> {
  let s: Session | null = null;
  try {
    s = await attach(pid);
    if (!s) onProblem(`could not open the inspector of pid ${pid} on ${INSPECTOR} (port taken?)`);
    else {
      await s.send("Profiler.enable");
      await s.send("Profiler.setSamplingInterval", { interval: 500 });
      await s.send("Profiler.start");
    }
  } catch (err) {
    onProblem(`profiling pid ${pid}: ${(err as Error).message}`);
    s?.close();
    s = null;
  }
  try {
    return await fn();
  } finally {
    if (s) {
      try {
        const { profile } = await s.send<{ profile: unknown }>("Profiler.stop");
        await writeFile(outFile, JSON.stringify(profile));
        // Close the inspector once we are gone (close() waits for open sessions).
        void s
          .send("Runtime.evaluate", {
            expression: "setTimeout(() => process.getBuiltinModule('node:inspector').close(), 200), 0",
          })
          .catch(() => undefined);
        await sleep(50);
      } catch (err) {
        onProblem(`profiling pid ${pid}: ${(err as Error).message}`);
      } finally {
        s.close();
        await sleep(400);
      }
    }
  }
}
